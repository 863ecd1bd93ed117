/**
 * The outbound guard: dealstream calls URLs that integrations give it (webhooks, the http action
 * executor, an identity provider's keys), so it must not become a way into the network it runs in
 * (SSRF, issue 14). The guard refuses loopback, private, link-local, CGNAT, unique-local, multicast,
 * unspecified, reserved and cloud-metadata addresses in every spelling, and checks again the
 * address a name resolves to right before connecting, so DNS rebinding cannot get past it.
 *
 * Why these libraries: undici's Agent takes a `connect.lookup` that it hands to net/tls.connect,
 * the only place where a resolved address can be checked right before the socket connects to it;
 * ipaddr.js (well kept, used by express's proxy-addr) parses every spelling of an address and
 * classifies every special-purpose range.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { Agent, fetch as undiciFetch, type RequestInit, type Response } from 'undici';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];
export type ResolvedAddress = { address: string; family: 4 | 6 };

export interface OutboundGuardOptions {
  /** CIDRs that may be reached although private (OUTBOUND_ALLOW_PRIVATE); metadata addresses never. */
  allowPrivate?: readonly string[];
  /** Resolves a host name to its addresses; defaults to dns.lookup with all: true. Tests pass their own. */
  resolve?: (hostname: string) => Promise<ResolvedAddress[]>;
}

/** What a caller may ask of fetch(): the guard chooses the dispatcher and never follows redirects. */
export type OutboundRequestInit = Omit<RequestInit, 'dispatcher' | 'redirect'>;

/** Thrown (or the cause) when the guard refuses a request; its message is safe to show the URL's owner. */
export class OutboundRefusedError extends Error {
  override readonly name = 'OutboundRefusedError';
  constructor(readonly reason: string) {
    super(`refused by the outbound guard: ${reason}`);
  }
}

// Cloud metadata services are refused even when an allowlist covers them: no receiver lives there.
const METADATA_ADDRESSES = ['169.254.169.254', 'fd00:ec2::254', 'fd20:ce::254', '100.100.100.200'].map((text) => ipaddr.parse(text));
const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);
const LOOPBACK_V4 = ipaddr.parse('127.0.0.0');
const LOOPBACK_V6 = ipaddr.parse('::1');
// IANA's global unicast space; ipaddr.js calls ::/96 (IPv4-compatible, deprecated) 'unicast'.
const GLOBAL_UNICAST_V6: Cidr = ipaddr.parseCIDR('2000::/3');
// NAT64's well-known prefix reaches the IPv4 address in its last 32 bits; the local-use 64:ff9b:1::/48 stays refused.
const NAT64_V6: Cidr = ipaddr.parseCIDR('64:ff9b::/96');

const RANGE_WORDS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  linkLocal: 'a link-local address',
  carrierGradeNat: 'a carrier-grade NAT address',
  uniqueLocal: 'a unique-local address',
  multicast: 'a multicast address',
  unspecified: 'an unspecified address',
  broadcast: 'the broadcast address',
};

/** One CIDR, or one address (a single-host CIDR), strictly spelled; throws naming the entry. */
function parseCidr(entry: string): Cidr {
  const [address = '', bits, extra] = entry.split('/');
  const v4 = ipaddr.IPv4.isValidFourPartDecimal(address);
  const valid = (v4 || (ipaddr.IPv6.isValid(address) && !address.includes('%'))) && extra === undefined && (bits === undefined || /^\d{1,3}$/.test(bits));
  const max = v4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!valid || prefix > max) throw new Error(`"${entry}" is not an address or CIDR (such as 10.0.0.0/8 or fd00::/8)`);
  const parsed = ipaddr.parse(address);
  // An IPv4-mapped CIDR (::ffff:10.0.0.0/104) is the IPv4 CIDR it maps.
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
    return [(parsed as ipaddr.IPv6).toIPv4Address(), prefix - 96];
  }
  return [parsed, prefix];
}

/** Parses OUTBOUND_ALLOW_PRIVATE: a comma list of CIDRs (or addresses), blanks dropped; throws naming a bad entry. */
export function parseCidrList(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [address, bits] = parseCidr(entry);
      return `${address.toString()}/${bits}`;
    });
}

function inCidr(address: Address, [network, bits]: Cidr): boolean {
  return address.kind() === network.kind() && address.match(network, bits);
}

/**
 * The IPv4 address an IPv6 one really reaches (IPv4-mapped, SIIT, NAT64: DNS64 networks answer public
 * hosts so), else the address itself. 6to4 and Teredo are not unwrapped: their ranges stay refused.
 */
function reachedAddress(address: Address): Address {
  if (address.kind() === 'ipv4') return address;
  const v6 = address as ipaddr.IPv6;
  if (!v6.isIPv4MappedAddress() && v6.range() !== 'rfc6145' && !inCidr(v6, NAT64_V6)) return address;
  const [high = 0, low = 0] = v6.parts.slice(6);
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** Host names that ipaddr.js reads as an address (in any spelling, brackets or not) are addresses. */
function parseAddress(host: string): Address | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return ipaddr.isValid(bare) ? ipaddr.parse(bare) : undefined;
}

/** Why the guard will not connect to an address, in words about its kind (never the address); undefined when it may. */
function addressRefusal(address: Address, allowed: readonly Cidr[]): string | undefined {
  const reached = reachedAddress(address);
  if (METADATA_ADDRESSES.some((metadata) => inCidr(reached, [metadata, metadata.kind() === 'ipv4' ? 32 : 128]))) {
    return 'the host is a cloud metadata service';
  }
  if (allowed.some((cidr) => inCidr(reached, cidr) || inCidr(address, cidr))) return undefined;
  const range = reached.range();
  if (range !== 'unicast') return `the host is ${RANGE_WORDS[range] ?? 'a special-purpose address'}`;
  if (reached.kind() === 'ipv6' && !inCidr(reached, GLOBAL_UNICAST_V6)) return 'the host is not a global unicast address';
  return undefined;
}

async function systemResolve(hostname: string): Promise<ResolvedAddress[]> {
  const addresses = await dnsLookup(hostname, { all: true });
  return addresses.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export class OutboundGuard {
  private readonly allowed: readonly Cidr[];
  private readonly allowsLoopback: boolean;
  private readonly resolve: (hostname: string) => Promise<ResolvedAddress[]>;
  // One Agent per guard: its pool keeps connections to receivers alive; an explicit Agent also ignores HTTP(S)_PROXY.
  private readonly agent: Agent;

  constructor(options: OutboundGuardOptions = {}) {
    this.allowed = (options.allowPrivate ?? []).map(parseCidr);
    // ipaddr's match(other, bits) compares the first bits: a CIDR overlaps 127/8 when it agrees on min(bits, 8).
    this.allowsLoopback = this.allowed.some(([network, bits]) =>
      network.kind() === 'ipv4' ? network.match(LOOPBACK_V4, Math.min(bits, 8)) : inCidr(LOOPBACK_V6, [network, bits]),
    );
    this.resolve = options.resolve ?? systemResolve;
    this.agent = new Agent({ connect: { lookup: this.connectLookup } });
  }

  /** Why a URL may not be called, checked without the network; undefined when it may. */
  refusal(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'the URL is not valid';
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'only http and https URLs may be called';
    if (parsed.username || parsed.password) return 'credentials in the URL are not allowed';
    // WHATWG URL has already turned 2130706433, 127.1 and 0x7f.1 into 127.0.0.1, and lowercased names.
    const address = parseAddress(parsed.hostname);
    if (address) return addressRefusal(address, this.allowed);
    const name = parsed.hostname.replace(/\.+$/, ''); // localhost. is localhost
    if (!name) return 'the URL has no host';
    if (METADATA_NAMES.has(name)) return 'the host is a cloud metadata service';
    // With a loopback allowlist, localhost is judged by what it resolves to, like any name.
    if ((name === 'localhost' || name.endsWith('.localhost')) && !this.allowsLoopback) return 'the host is a loopback address';
    return undefined;
  }

  /** refusal() plus resolving the host now: for creation time, so an owner hears early that a URL will never be called. */
  async vet(url: string): Promise<string | undefined> {
    const refusal = this.refusal(url);
    if (refusal) return refusal;
    const { hostname } = new URL(url);
    if (parseAddress(hostname)) return undefined;
    let addresses: ResolvedAddress[];
    try {
      addresses = await this.resolve(hostname);
    } catch {
      // A name that does not resolve is not refused: its receiver may come later, and fetch() checks at connection time.
      return undefined;
    }
    return this.resolvedRefusal(addresses);
  }

  /**
   * undici's fetch through the guard's Agent: refuses before sending when refusal() says so, connects
   * only to addresses the guard allows, and never follows redirects (a 3xx comes back as is).
   * Timeouts are the caller's (init.signal). A refusal rejects with OutboundRefusedError.
   */
  async fetch(url: string, init: OutboundRequestInit = {}): Promise<Response> {
    // net.connect does not call the lookup for an IP literal: literals are judged here.
    const refusal = this.refusal(url);
    if (refusal) throw new OutboundRefusedError(refusal);
    try {
      return await undiciFetch(url, { ...init, redirect: 'manual', dispatcher: this.agent });
    } catch (error) {
      throw refusalWithin(error) ?? error;
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  /** A resolved name is refused when any of its addresses is: a name that mixes public and private addresses is a trap. */
  private resolvedRefusal(addresses: readonly ResolvedAddress[]): string | undefined {
    const forbidden = addresses.some(({ address }) => {
      const parsed = parseAddress(address);
      return !parsed || addressRefusal(parsed, this.allowed) !== undefined;
    });
    // Which address, and of what kind, is the network's business: the owner hears only that it may not be reached.
    return forbidden ? 'the host name resolves to an address that may not be reached' : undefined;
  }

  /** net/tls.connect's lookup: resolves through `resolve` right before connecting and fails on a forbidden address. */
  private readonly connectLookup = (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    this.allowedAddresses(hostname, options.family).then(
      (addresses) => {
        const [first] = addresses as [ResolvedAddress]; // allowedAddresses never answers an empty list
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };

  private async allowedAddresses(hostname: string, family: LookupOptions['family']): Promise<ResolvedAddress[]> {
    const literal = parseAddress(hostname);
    const addresses = literal ? [{ address: literal.toString(), family: literal.kind() === 'ipv4' ? 4 : 6 } as const] : await this.resolve(hostname);
    const refusal = literal ? addressRefusal(literal, this.allowed) : this.resolvedRefusal(addresses);
    if (refusal) throw new OutboundRefusedError(refusal);
    const wanted = family === 4 || family === 'IPv4' ? 4 : family === 6 || family === 'IPv6' ? 6 : undefined;
    const usable = addresses.filter((address) => wanted === undefined || address.family === wanted);
    if (usable.length === 0) throw Object.assign(new Error('the name has no address'), { code: 'ENOTFOUND' });
    return usable;
  }
}

/** The guard's refusal somewhere in an error's causes (undici wraps the lookup's error in 'fetch failed'). */
function refusalWithin(error: unknown): OutboundRefusedError | undefined {
  return causes(error).find((cause): cause is OutboundRefusedError => cause instanceof OutboundRefusedError);
}

/** An error, its causes and the errors it aggregates (happy eyeballs tries several addresses). */
function causes(error: unknown): object[] {
  const found: object[] = [];
  const queue = [error];
  while (queue.length > 0 && found.length < 20) {
    const item = queue.shift();
    if (typeof item !== 'object' || item === null || found.includes(item)) continue;
    found.push(item);
    if ('cause' in item) queue.push(item.cause);
    if (item instanceof AggregateError) queue.push(...(item.errors as unknown[]));
  }
  return found;
}

// Error codes in words about the request; the errors' messages name addresses and ports, so they are never shown.
const FAILURE_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection closed by the receiver',
  UND_ERR_CLOSED: 'connection closed',
  ENOTFOUND: 'name not found',
  EAI_NONAME: 'name not found',
  EAI_NODATA: 'name not found',
  EAI_AGAIN: 'name lookup failed for now',
  EAI_FAIL: 'name lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'answer not complete in time',
  EHOSTUNREACH: 'host unreachable',
  EHOSTDOWN: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network unreachable',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'answer too large',
};
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

/** What happened to a request, in words safe for the URL's owner: never an address or port of the network. */
export function describeOutboundFailure(error: unknown, timeoutMs: number): string {
  const chain = causes(error);
  const refused = chain.find((cause) => cause instanceof OutboundRefusedError);
  if (refused) return (refused as OutboundRefusedError).message;
  // The caller's AbortSignal: AbortSignal.timeout() rejects with a TimeoutError, a controller with an AbortError.
  if (chain.some((cause) => 'name' in cause && (cause.name === 'TimeoutError' || cause.name === 'AbortError'))) {
    return `no answer within ${timeoutMs} ms`;
  }
  for (const cause of chain) {
    const code = 'code' in cause && typeof cause.code === 'string' ? cause.code : '';
    if (FAILURE_WORDS[code]) return FAILURE_WORDS[code];
    if (TLS_CODE.test(code)) return `TLS handshake failed (${code})`;
    if (code.startsWith('HPE_')) return 'the answer is not valid HTTP';
    if ('message' in cause && cause.message === 'bad port') return 'the port may not be called (fetch blocks it)';
  }
  return 'request failed';
}
