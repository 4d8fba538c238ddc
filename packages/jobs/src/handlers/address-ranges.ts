import { isIPv4, isIPv6 } from 'node:net';

/** A range of addresses that is not the public internet, and what it is called. */
interface SpecialRange {
  /** Address bytes the range starts with (4 for IPv4, 16 for IPv6). */
  prefix: readonly number[];
  bits: number;
  name: string;
}

function v4(cidr: string, name: string): SpecialRange {
  const [address, bits] = cidr.split('/') as [string, string];
  return { prefix: address.split('.').map(Number), bits: Number(bits), name };
}

function v6(cidr: string, name: string): SpecialRange {
  const [address, bits] = cidr.split('/') as [string, string];
  return { prefix: [...(ipv6Bytes(address) as Uint8Array)], bits: Number(bits), name };
}

/** IPv4 ranges that are not public (IANA's special-purpose registry). */
const IPV4_RANGES: readonly SpecialRange[] = [
  v4('0.0.0.0/8', 'unspecified ("this network")'),
  v4('10.0.0.0/8', 'private'),
  v4('100.64.0.0/10', 'shared address space (CGNAT)'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link-local'),
  v4('172.16.0.0/12', 'private'),
  v4('192.0.0.0/24', 'reserved for protocol assignments'),
  v4('192.0.2.0/24', 'reserved for documentation'),
  v4('192.88.99.0/24', 'reserved (6to4 relay)'),
  v4('192.168.0.0/16', 'private'),
  v4('198.18.0.0/15', 'reserved for benchmarking'),
  v4('198.51.100.0/24', 'reserved for documentation'),
  v4('203.0.113.0/24', 'reserved for documentation'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'),
];

/** IPv6 ranges that are not public; those that embed an IPv4 address are judged by that address. */
const IPV6_RANGES: readonly SpecialRange[] = [
  v6('::/128', 'unspecified'),
  v6('::1/128', 'loopback'),
  v6('100::/64', 'discard-only'),
  v6('2001::/32', 'Teredo tunnelling'),
  v6('2001:db8::/32', 'reserved for documentation'),
  v6('fc00::/7', 'unique-local (private)'),
  v6('fe80::/10', 'link-local'),
  v6('fec0::/10', 'site-local (deprecated)'),
  v6('ff00::/8', 'multicast'),
  v6('64:ff9b:1::/48', 'local-use IPv4/IPv6 translation'),
];

/** Where IPv6 addresses carry an IPv4 one: the range, and the byte at which the IPv4 address starts. */
const EMBEDDING_RANGES: readonly { range: SpecialRange; at: number }[] = [
  { range: v6('::ffff:0:0/96', 'IPv4-mapped'), at: 12 },
  { range: v6('::/96', 'IPv4-compatible'), at: 12 },
  { range: v6('64:ff9b::/96', 'IPv4/IPv6 translation'), at: 12 },
  { range: v6('::ffff:0:0:0/96', 'IPv4-translated'), at: 12 },
  { range: v6('2002::/16', '6to4'), at: 2 },
];

function matches(bytes: ArrayLike<number>, range: SpecialRange): boolean {
  for (let bit = 0; bit < range.bits; bit += 8) {
    const mask = range.bits - bit >= 8 ? 0xff : (0xff << (8 - (range.bits - bit))) & 0xff;
    if (((bytes[bit / 8] ?? 0) & mask) !== ((range.prefix[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

/** The 16 bytes of an IPv6 address in any textual form (`::`, a dotted IPv4 tail, a zone), or undefined. */
export function ipv6Bytes(address: string): Uint8Array | undefined {
  const text = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!isIPv6(text)) return undefined;
  let groups = text.split(':');
  const tail = groups.at(-1) ?? '';
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    groups = [...groups.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  }
  const gap = groups.indexOf('');
  if (gap >= 0) {
    const head = groups.slice(0, gap).filter((group) => group !== '');
    const rest = groups.slice(gap + 1).filter((group) => group !== '');
    groups = [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  }
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = Number.parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  return bytes;
}

/**
 * What kind of non-public address `address` is ('loopback', 'private', 'link-local', …), or
 * undefined for a public one. Every spelling of an address is judged the same: IPv4 addresses
 * inside IPv6 ones (mapped, compatible, translated, 6to4) are judged as the IPv4 address.
 */
export function specialRangeOf(address: string): string | undefined {
  if (isIPv4(address)) return IPV4_RANGES.find((range) => matches(address.split('.').map(Number), range))?.name;
  const bytes = ipv6Bytes(address);
  if (!bytes) return 'not an IP address';
  for (const { range, at } of EMBEDDING_RANGES) {
    if (!matches(bytes, range)) continue;
    // `::` and `::1` are themselves in ::/96; they are judged as what they are.
    if (range.bits === 96 && bytes.slice(0, 12).every((byte) => byte === 0) && bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0 && (bytes[15] ?? 0) <= 1) break;
    const embedded = [...bytes.slice(at, at + 4)].join('.');
    const name = specialRangeOf(embedded);
    return name === undefined ? undefined : `${name} (as ${range.name} IPv6)`;
  }
  return IPV6_RANGES.find((range) => matches(bytes, range))?.name;
}

/** Whether `address` is link-local (IPv4 169.254.0.0/16, IPv6 fe80::/10), in any spelling. */
export function isLinkLocal(address: string): boolean {
  return specialRangeOf(address)?.startsWith('link-local') ?? false;
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d` in any spelling) stands for, else `address` itself. */
export function unmapped(address: string): string {
  const bytes = isIPv6(address) ? ipv6Bytes(address) : undefined;
  if (!bytes || !bytes.slice(0, 10).every((byte) => byte === 0) || bytes[10] !== 0xff || bytes[11] !== 0xff) return address;
  return [...bytes.slice(12)].join('.');
}
