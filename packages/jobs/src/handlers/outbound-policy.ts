import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Why a webhook target was refused; the job fails permanently with this message. */
export class RefusedTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedTargetError';
  }
}

/**
 * Where webhook requests may go. Link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata
 * services live there) are always refused. With an allow-list, a target must be a listed host name
 * or resolve into a listed CIDR range. Addresses are checked at connection time, on the address the
 * socket really uses, so a name that resolves differently later (DNS rebinding) gains nothing.
 */
export class OutboundPolicy {
  private readonly refused = new BlockList();
  private readonly allowedRanges = new BlockList();
  private readonly allowedNames: Set<string>;
  private readonly restricted: boolean;

  constructor(allowedHosts: readonly string[]) {
    this.refused.addSubnet('169.254.0.0', 16, 'ipv4');
    this.refused.addSubnet('fe80::', 10, 'ipv6');
    this.allowedNames = new Set();
    for (const entry of allowedHosts) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address ?? '');
      if (family === 0) this.allowedNames.add(entry.toLowerCase());
      else this.allowedRanges.addSubnet(address as string, prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
    }
    this.restricted = allowedHosts.length > 0;
  }

  /** Refuses an address that may never be a target, whatever the allow-list says. */
  checkAddress(address: string, host: string): void {
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (this.refused.check(mapped ?? address, mapped ? 'ipv4' : type)) {
      throw new RefusedTargetError(`webhook target ${host} (${address}) is link-local; such addresses are never called`);
    }
    if (this.restricted && !this.allowedNames.has(host.toLowerCase()) && !this.allowedRanges.check(mapped ?? address, mapped ? 'ipv4' : type)) {
      throw new RefusedTargetError(`webhook target ${host} (${address}) is not in WEBHOOK_ALLOWED_HOSTS`);
    }
  }

  /** A DNS lookup for http.request that refuses addresses this policy does not allow. */
  lookupFor(host: string): LookupFunction {
    return (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error, '', 0);
        try {
          for (const { address } of addresses) this.checkAddress(address, host);
        } catch (refusal) {
          return callback(refusal as NodeJS.ErrnoException, '', 0);
        }
        if (options.all) return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
        const [first] = addresses;
        return callback(null, first?.address ?? '', first?.family ?? 4);
      });
    };
  }
}
