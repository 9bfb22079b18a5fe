import { describe, expect, it } from 'vitest';
import { kafkaConsumerLag, type LagAdmin } from '../../src/modules/events/broker.kafka.lag.js';

/**
 * A stand-in for @platformatic/kafka's Admin that answers from fixed offsets, shaped as the
 * library's own answers (metadata's topic map, listOffsets' and listConsumerGroupOffsets' lists),
 * and records the requests it was sent.
 */
function fakeAdmin(topics: Record<string, { start: bigint[]; end: bigint[] }>, commits: Record<string, Record<number, bigint>>) {
  const sent: unknown[] = [];
  const admin = {
    async metadata(options: { topics?: string[] }) {
      sent.push({ metadata: options });
      const map = new Map(Object.entries(topics).filter(([name]) => options.topics?.includes(name)).map(([name, t]) => [name, { partitionsCount: t.end.length }]));
      return { topics: map };
    },
    async listOffsets(options: { topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; timestamp: bigint }> }> }) {
      sent.push({ listOffsets: options });
      return options.topics.map(({ name, partitions }) => ({
        name,
        partitions: partitions.map(({ partitionIndex, timestamp }) => ({
          partitionIndex,
          timestamp,
          leaderEpoch: 0,
          offset: (timestamp === -1n ? topics[name]!.end : topics[name]!.start)[partitionIndex]!,
        })),
      }));
    },
    async listConsumerGroupOffsets(options: { groups: Array<{ groupId: string; topics: Array<{ name: string; partitionIndexes: number[] }> }> }) {
      sent.push({ listConsumerGroupOffsets: options });
      return options.groups.map(({ groupId, topics: asked }) => ({
        groupId,
        topics: asked.map(({ name, partitionIndexes }) => ({
          name,
          // Kafka answers -1 for a partition the group has committed nothing on.
          partitions: partitionIndexes.map((partitionIndex) => ({
            partitionIndex,
            committedOffset: commits[groupId]?.[partitionIndex] ?? -1n,
            committedLeaderEpoch: 0,
            metadata: null,
          })),
        })),
      }));
    },
  };
  return { admin: admin as unknown as LagAdmin, sent };
}

describe('Kafka consumer lag', () => {
  const topic = 'ticketing.events';
  // Three partitions: offsets 0–99 written to the first (nothing deleted), 40–59 kept of 0–59 in the
  // second (retention deleted 0–39), and nothing written to the third.
  const offsets = { [topic]: { start: [0n, 40n, 0n], end: [100n, 60n, 0n] } };

  it('sums, over partitions, the end offset minus the committed offset of each group', async () => {
    const { admin } = fakeAdmin(offsets, { rankings: { 0: 90n, 1: 55n, 2: 0n }, caught_up: { 0: 100n, 1: 60n, 2: 0n } });
    expect(await kafkaConsumerLag(admin, topic, ['rankings', 'caught_up'])).toEqual([
      { group: 'rankings', lag: 10 + 5 + 0 },
      { group: 'caught_up', lag: 0 },
    ]);
  });

  it('counts a partition with no commit, or a commit below what retention kept, from the oldest message kept', async () => {
    const { admin } = fakeAdmin(offsets, { fresh: {}, behind: { 0: 100n, 1: 10n } });
    expect(await kafkaConsumerLag(admin, topic, ['fresh', 'behind'])).toEqual([
      { group: 'fresh', lag: 100 + 20 },
      { group: 'behind', lag: 0 + 20 },
    ]);
  });

  it('asks about every partition of the topic, for all groups in one request, and for the end and the start', async () => {
    const { admin, sent } = fakeAdmin(offsets, {});
    await kafkaConsumerLag(admin, topic, ['a', 'b']);
    expect(sent).toContainEqual({
      listConsumerGroupOffsets: { groups: ['a', 'b'].map((groupId) => ({ groupId, topics: [{ name: topic, partitionIndexes: [0, 1, 2] }] })) },
    });
    const timestamps = sent.flatMap((s) => ('listOffsets' in (s as object) ? [(s as { listOffsets: { topics: Array<{ partitions: Array<{ timestamp: bigint }> }> } }).listOffsets.topics[0]!.partitions.map((p) => p.timestamp)] : []));
    expect(timestamps).toEqual(expect.arrayContaining([[-1n, -1n, -1n], [-2n, -2n, -2n]]));
  });

  it('reads 0 for a topic with no partitions yet, and nothing when no group consumes here', async () => {
    const { admin, sent } = fakeAdmin({}, {});
    expect(await kafkaConsumerLag(admin, 'not-yet', ['rankings'])).toEqual([{ group: 'rankings', lag: 0 }]);
    expect(await kafkaConsumerLag(admin, topic, [])).toEqual([]);
    expect(sent).toHaveLength(1); // the metadata of the first call only
  });
});
