import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WaitingLine, type Ticket } from '../../src/modules/queue/queue.line.memory.js';

/**
 * The in-process line against a reference (an array kept sorted by order): joins in order, entries
 * put back at old places in any order (as after a lost line), leaves from anywhere and admissions
 * from the head, in random interleavings. Every position, the head and the size must agree.
 */
type Op = { kind: 'push' } | { kind: 'insert'; at: number } | { kind: 'remove'; pick: number } | { kind: 'shift' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Op>({ kind: 'push' }) },
  { weight: 4, arbitrary: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }).map<Op>((at) => ({ kind: 'insert', at })) },
  { weight: 2, arbitrary: fc.nat().map<Op>((pick) => ({ kind: 'remove', pick })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'shift' }) },
);

function check(ops: Op[]) {
  const line = new WaitingLine();
  const reference: Ticket[] = []; // sorted by order
  const used = new Set<number>();
  let next = 1_000_000;
  let n = 0;
  for (const o of ops) {
    if (o.kind === 'push') {
      next += 1 + (n % 3);
      const t = line.push(`u${n++}`, next, next);
      used.add(next);
      reference.push(t);
    } else if (o.kind === 'insert') {
      // An old place: anywhere below the next join's order, never one in use.
      let order = Math.floor(o.at * next);
      while (used.has(order)) order++;
      if (order >= next) continue;
      used.add(order);
      const t = line.insert(`u${n++}`, order, order);
      const at = reference.findIndex((r) => r.order > order);
      reference.splice(at === -1 ? reference.length : at, 0, t);
    } else if (o.kind === 'remove') {
      if (reference.length === 0) continue;
      const [t] = reference.splice(o.pick % reference.length, 1);
      line.remove(t!);
      line.remove(t!); // twice: the second is a no-op
    } else {
      expect(line.shift()).toBe(reference.shift()?.userId);
    }
    expect(line.size).toBe(reference.length);
    expect(line.peek()?.userId).toBe(reference[0]?.userId);
  }
  expect(reference.map((t) => line.position(t))).toEqual(reference.map((_, i) => i + 1));
  const drained: string[] = [];
  for (let u = line.shift(); u !== undefined; u = line.shift()) drained.push(u);
  expect(drained).toEqual(reference.map((t) => t.userId));
}

describe('the in-process waiting line', () => {
  it('agrees with a sorted reference under random joins, put-backs, leaves and admissions', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => check(ops)),
      { numRuns: 300 },
    );
  });

  it('puts back a whole lost line polled in reverse order, each at its place, moving each entry O(log n) times', () => {
    const line = new WaitingLine();
    const tail = line.push('late', 10_000_000, 10_000_000); // joined after the loss
    const N = 2_000;
    const tickets: Ticket[] = [];
    // How often entries already in line were moved (to another slot or level) by a put-back: laying
    // the whole line out again on each one would move about N²/2 = 2,000,000.
    let moved = 0;
    const placed = new Map<Ticket, string>([[tail, `${tail.slot}`]]);
    for (let i = N - 1; i >= 0; i--) {
      tickets[i] = line.insert(`u${i}`, i, i * 2 + 1);
      for (const [t, was] of placed) {
        const now = `${t.slot} ${t.level === line ? 0 : 1}`;
        if (was !== now && placed.size > 1) moved++;
        placed.set(t, now);
      }
      placed.set(tickets[i]!, `${tickets[i]!.slot} ${tickets[i]!.level === line ? 0 : 1}`);
    }
    expect(moved).toBeLessThan(N * Math.log2(N) * 2);
    expect(line.size).toBe(N + 1);
    for (let i = 0; i < N; i += 199) expect(line.position(tickets[i]!)).toBe(i + 1);
    expect(line.position(tail)).toBe(N + 1);
    expect(line.shift()).toBe('u0');
    expect(line.position(tickets[1]!)).toBe(1);
  });
});
