/**
 * A resolver for the delivery guard (HttpSender's `resolver`), answering chosen names with chosen
 * addresses, so tests can make a public-looking name resolve to loopback, to a mixed answer, or
 * to one address first and another later (DNS rebinding). Names it does not know go to the
 * system resolver, as in production. Every question is recorded.
 */
import dns from 'node:dns';
import type { LookupAddress } from 'node:dns';
import type { Resolver } from '../../src/delivery/guarded-lookup';

/** An answer: a fixed list, or one computed from how many times the name was asked before. */
export type Answer = readonly string[] | ((asked: number) => readonly string[]);

export class FakeDns {
  readonly asked: string[] = [];
  private readonly answers = new Map<string, Answer>();

  set(name: string, answer: Answer): this {
    this.answers.set(name.toLowerCase(), answer);
    return this;
  }

  /** How many times `name` was resolved. */
  count(name: string): number {
    return this.asked.filter((n) => n === name.toLowerCase()).length;
  }

  readonly resolver: Resolver = (hostname, options) => {
    const name = hostname.toLowerCase();
    const before = this.count(name);
    this.asked.push(name);
    const answer = this.answers.get(name);
    if (answer === undefined) return dns.promises.lookup(hostname, options);
    const addresses = typeof answer === 'function' ? answer(before) : answer;
    return Promise.resolve(addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
}
