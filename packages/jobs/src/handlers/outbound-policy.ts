import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { isLinkLocal, specialRangeOf, unmapped } from './address-ranges.js';

/** Why a webhook target was refused; the job fails permanently with this message. */
export class RefusedTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedTargetError';
  }
}

/**
 * Where webhook requests may go: public addresses only, closed by default. Loopback, private,
 * shared (CGNAT), unique-local, multicast, reserved and unspecified addresses, in every spelling
 * (IPv4 inside IPv6 included), are refused unless `WEBHOOK_ALLOWED_HOSTS` lists the host name or a
 * range holding the address. Link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata
 * services live there) are refused whatever the list says. Addresses are checked on what the name
 * resolves to and again on the address the socket really connected to, so a name that resolves
 * differently later (DNS rebinding) gains nothing.
 */
export class OutboundPolicy {
  private readonly allowedRanges = new BlockList();
  private readonly allowedNames = new Set<string>();

  constructor(allowedHosts: readonly string[]) {
    for (const entry of allowedHosts) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address ?? '');
      if (family === 0) this.allowedNames.add(entry.toLowerCase());
      else this.allowedRanges.addSubnet(address as string, prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  /** Refuses an address this policy does not let a webhook reach; `host` is the name it was reached by. */
  checkAddress(address: string, host: string): void {
    const plain = unmapped(address);
    if (isLinkLocal(plain)) throw new RefusedTargetError(`webhook target ${host} (${address}) is link-local; such addresses are never called`);
    const range = specialRangeOf(plain);
    if (range === undefined || this.allows(plain, host)) return;
    throw new RefusedTargetError(
      `webhook target ${host} (${address}) is ${range}; only public addresses are called unless WEBHOOK_ALLOWED_HOSTS lists the host or its range`,
    );
  }

  private allows(address: string, host: string): boolean {
    return this.allowedNames.has(host.toLowerCase()) || this.allowedRanges.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
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
