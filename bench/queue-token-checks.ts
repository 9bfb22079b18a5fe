/**
 * The CPU a gated request spends on its Queue-Token, no server needed: each step that reads the
 * token verifying it on its own (as before one check per request), against every step asking the
 * request's one check (queue.token.request.ts). Alternating rounds in one process; prints the
 * median microseconds of token work per request for each kind of request.
 *
 *   npx tsx bench/queue-token-checks.ts                      # 100,000 requests a round, 7 rounds
 *   npx tsx bench/queue-token-checks.ts --requests 20000 --rounds 3
 */
import type { FastifyRequest } from 'fastify';
import { parseArgs } from 'node:util';
import { createQueueTokens } from '../src/modules/queue/queue.token.js';
import { requestQueueTokens } from '../src/modules/queue/queue.token.request.js';

const { values: args } = parseArgs({ options: { requests: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '7' } } });
const requests = Number(args.requests);
const rounds = Number(args.rounds);

const tokens = createQueueTokens({ secret: 'n'.repeat(40), previousSecrets: ['o'.repeat(40)] });
const genuine = tokens.issue({ userId: 'u'.repeat(36), concertId: 'c'.repeat(36), entryId: 'e'.repeat(36), issuedAt: Date.now(), place: { order: 123_456, epoch: 'x'.repeat(36) } });
const [v, kid, payload] = genuine.split('.');
const forged = `${v}.${kid}.${payload}.${'A'.repeat(43)}`;

/**
 * How many steps read the token, by kind of request, before: the poll rate limit (line poll and
 * seat map), the bearer voucher (when a bearer is sent), the gate or the line's service, and load
 * shedding too while the instance is under pressure.
 */
const KINDS: Array<[string, string, number]> = [
  ['line poll', genuine, 3],
  ['seat map (bearer sent)', genuine, 3],
  ['hold or payment', genuine, 2],
  ['line poll under pressure', genuine, 4],
  ['hold under pressure', genuine, 3],
  ['hold with a forged token', forged, 2],
];

/** Microseconds of CPU (user + system) per request for `perRequest`, over `requests` requests. */
function timed(perRequest: (request: FastifyRequest) => void): number {
  const start = process.cpuUsage();
  for (let i = 0; i < requests; i++) perRequest({ headers: { 'queue-token': token }, queueTokenCheck: null } as unknown as FastifyRequest);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / requests;
}
let token = genuine;

const everyStepVerifies = (steps: number) => () => {
  for (let s = 0; s < steps; s++) {
    try {
      tokens.verify(token);
    } catch {
      // refused: the step reports it or lets it pass, as before
    }
  }
};
const oneCheck = (steps: number) => {
  const ofRequest = requestQueueTokens(tokens);
  return (request: FastifyRequest) => {
    for (let s = 0; s < steps; s++) ofRequest.genuine(request);
  };
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${requests} requests a round, ${rounds} rounds, median µs of CPU per request for its Queue-Token`);
console.log('| request | steps reading the token | before | after | saved |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const [name, sent, steps] of KINDS) {
  token = sent;
  timed(everyStepVerifies(steps)); // warm up both
  timed(oneCheck(steps));
  const before: number[] = [];
  const after: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const pair = [() => before.push(timed(everyStepVerifies(steps))), () => after.push(timed(oneCheck(steps)))];
    for (const run of r % 2 === 0 ? pair : pair.reverse()) run();
  }
  const [b, a] = [median(before), median(after)];
  console.log(`| ${name} | ${steps} | ${b.toFixed(2)} | ${a.toFixed(2)} | ${(b - a).toFixed(2)} (${Math.round((100 * (b - a)) / b)}%) |`);
}
