/**
 * Where webhooks may be sent: a guard against server-side request forgery.
 *
 * A tenant chooses the URL and we POST to it from inside the platform's network, so without this
 * a webhook could reach loopback services, the cloud metadata endpoint (169.254.169.254) or other
 * private hosts. Two checks use the rules below: `checkWebhookUrl` when a URL is created or
 * updated (no DNS there), and `isAllowedAddress` on every resolved address at connect time, which
 * is what stops a public name that resolves to a private address.
 *
 * Addresses are parsed strictly (dotted-quad IPv4 or standard IPv6 text). ipaddr.js alone also
 * accepts forms such as `2130706433` or `010.0.0.1`, and a second, differently lenient parser is
 * exactly how SSRF filters get bypassed; URLs go through the WHATWG parser first, which
 * normalises every such spelling to dotted-quad.
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

// Everything IANA has allocated for global IPv6 unicast; ipaddr.js calls the rest "unicast" too.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
// NAT64 well-known prefix (RFC 6052): the last 32 bits are the IPv4 address actually reached.
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

function parseStrict(text: string): Address | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return ipaddr.IPv4.parse(text);
  }
  return ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : undefined;
}

/** Strict parse; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) comes back as the IPv4 it stands for. */
function parseAddress(text: string): Address | undefined {
  const parsed = parseStrict(text);
  return parsed instanceof ipaddr.IPv6 && parsed.isIPv4MappedAddress()
    ? parsed.toIPv4Address()
    : parsed;
}

/** The IPv4 address a NAT64 or 6to4 address leads to, if it is one of those. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const bytes = address.toByteArray();
  if (address.match(NAT64_WELL_KNOWN)) {
    return new ipaddr.IPv4(bytes.slice(12, 16));
  }
  if (address.range() === '6to4') {
    // 2002:AABB:CCDD::/48 carries the relay's IPv4 address AA.BB.CC.DD in bits 16..47.
    return new ipaddr.IPv4(bytes.slice(2, 6));
  }
  return undefined;
}

function classifyParsed(address: Address): string | undefined {
  if (address instanceof ipaddr.IPv4) {
    const range = address.range();
    return range === 'unicast' ? undefined : range;
  }
  const embedded = embeddedIPv4(address);
  if (embedded !== undefined) {
    return classifyParsed(embedded);
  }
  const range = address.range();
  if (range !== 'unicast') {
    return range;
  }
  // Catches the deprecated IPv4-compatible form (`::7f00:1`) and unallocated space.
  return address.match(GLOBAL_UNICAST_V6) ? undefined : 'reserved';
}

/**
 * Undefined for a public unicast address, otherwise why it is not one, using ipaddr.js's range
 * names (`loopback`, `private`, `linkLocal`, `uniqueLocal`, `carrierGradeNat`, ...), or `invalid`
 * when the text is not a strictly spelled address.
 */
export function classifyAddress(address: string): string | undefined {
  const parsed = parseAddress(address);
  return parsed === undefined ? 'invalid' : classifyParsed(parsed);
}

function parseCidrEntry(entry: string): Cidr {
  const [addressText, prefixText, ...extra] = entry.split('/');
  const address = parseStrict(addressText);
  const maxBits = address instanceof ipaddr.IPv6 ? 128 : 32;
  const bits = prefixText === undefined ? maxBits : Number(prefixText);
  const prefixOk = prefixText === undefined || (/^\d{1,3}$/.test(prefixText) && bits <= maxBits);
  if (address === undefined || !prefixOk || extra.length > 0) {
    throw new Error(`invalid CIDR range "${entry}": expected e.g. 10.0.0.0/8 or fd00::/8`);
  }
  // Addresses are unwrapped from ::ffff:a.b.c.d before matching, so unwrap such ranges too.
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() && bits >= 96) {
    return [address.toIPv4Address(), bits - 96];
  }
  return [address, bits];
}

/** Destination ranges exempt from the private-network block (`WEBHOOKS_ALLOWED_CIDRS`). */
export class AllowedRanges {
  private readonly ranges: readonly Cidr[];

  /** Each entry is a CIDR range, or a bare address meaning that one host. Throws on a bad one. */
  constructor(cidrs: readonly string[]) {
    this.ranges = cidrs.map(parseCidrEntry);
  }

  /** A comma-separated list; blanks around entries and empty entries are ignored. */
  static parse(list: string): AllowedRanges {
    const entries = list
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    return new AllowedRanges(entries);
  }

  get size(): number {
    return this.ranges.length;
  }

  contains(address: string): boolean {
    const parsed = parseAddress(address);
    if (parsed === undefined) {
      return false;
    }
    return this.ranges.some(
      ([network, bits]) => network.kind() === parsed.kind() && parsed.match(network, bits),
    );
  }
}

/** True when the address is public, or inside a range the operator explicitly allowed. */
export function isAllowedAddress(address: string, allowed: AllowedRanges): boolean {
  return classifyAddress(address) === undefined || allowed.contains(address);
}

function checkAddressHost(address: string, allowed: AllowedRanges): string | undefined {
  if (isAllowedAddress(address, allowed)) {
    return undefined;
  }
  return `must not point at a non-public address (${address} is ${classifyAddress(address)})`;
}

function checkHost(hostname: string, allowed: AllowedRanges): string | undefined {
  // The WHATWG parser has already turned every IPv4 spelling into dotted-quad and wraps IPv6 in
  // brackets, so these two tests catch every IP literal.
  if (hostname.startsWith('[') && hostname.endsWith(']')) {
    return checkAddressHost(hostname.slice(1, -1), allowed);
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(hostname)) {
    return checkAddressHost(hostname, allowed);
  }
  // Empty labels ("localhost.", ".localhost", "a..b") must not disguise the name's shape.
  const labels = hostname.split('.').filter((label) => label !== '');
  if (labels.length > 0 && labels[labels.length - 1] === 'localhost') {
    return 'must not point at localhost';
  }
  if (labels.length < 2) {
    // Single-label names resolve through search domains to internal hosts.
    return 'must use a fully qualified host name';
  }
  return undefined;
}

function hasSpaceOrControl(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) {
      return true;
    }
  }
  return false;
}

/**
 * Checks a webhook URL when it is created or updated. Undefined when acceptable, otherwise a
 * message the caller prefixes with the field name. Never resolves DNS: connect time does that.
 */
export function checkWebhookUrl(
  raw: string,
  allowed: AllowedRanges,
  maxLength = 2048,
): string | undefined {
  if (raw.length > maxLength) {
    return `must be at most ${maxLength} characters`;
  }
  // The URL parser silently drops tabs, newlines and outer spaces; refuse them instead so what
  // the tenant typed is what we deliver to.
  if (hasSpaceOrControl(raw)) {
    return 'must not contain spaces or control characters';
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be a valid absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return 'must use the http or https scheme';
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not contain credentials';
  }
  // A fragment is never sent to the server, so one here is a mistake; `#` alone leaves hash ''.
  if (url.href.includes('#')) {
    return 'must not contain a fragment';
  }
  if (url.href.length > maxLength) {
    return `must be at most ${maxLength} characters once normalised`;
  }
  return checkHost(url.hostname, allowed);
}
