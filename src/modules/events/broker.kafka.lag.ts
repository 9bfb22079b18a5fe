import { ListOffsetTimestamps, type Admin } from '@platformatic/kafka';

/** What the lag needs of `@platformatic/kafka`'s Admin client (a fake in the unit test). */
export type LagAdmin = Pick<Admin, 'metadata' | 'listOffsets' | 'listConsumerGroupOffsets'>;

/**
 * Each group's lag on `topic`: over the topic's partitions, the offset the next message will get
 * (the end) minus the group's committed offset (the next one it will read). A partition where the
 * group has committed nothing, or an offset below the oldest message kept (retention deleted the
 * rest), counts from the oldest message kept: the adapter's consumers start there. Four requests
 * per reading (metadata, end and start offsets, the groups' offsets), whatever the number of groups.
 */
export async function kafkaConsumerLag(admin: LagAdmin, topic: string, groups: string[]): Promise<Array<{ group: string; lag: number }>> {
  if (groups.length === 0) return [];
  const metadata = await admin.metadata({ topics: [topic] });
  const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
  if (count === 0) return groups.map((group) => ({ group, lag: 0 }));
  const partitionIndexes = Array.from({ length: count }, (_, i) => i);
  const offsetsAt = async (timestamp: bigint) => {
    const listed = await admin.listOffsets({ topics: [{ name: topic, partitions: partitionIndexes.map((partitionIndex) => ({ partitionIndex, timestamp })) }] });
    const byPartition = new Map<number, bigint>();
    for (const t of listed) if (t.name === topic) for (const p of t.partitions) byPartition.set(p.partitionIndex, p.offset);
    return byPartition;
  };
  const [ends, starts, committed] = await Promise.all([
    offsetsAt(ListOffsetTimestamps.LATEST),
    offsetsAt(ListOffsetTimestamps.EARLIEST),
    admin.listConsumerGroupOffsets({ groups: groups.map((groupId) => ({ groupId, topics: [{ name: topic, partitionIndexes }] })) }),
  ]);
  return groups.map((group) => {
    const commits = new Map<number, bigint>();
    for (const g of committed) {
      if (g.groupId !== group) continue;
      for (const t of g.topics) if (t.name === topic) for (const p of t.partitions) commits.set(p.partitionIndex, p.committedOffset);
    }
    let lag = 0n;
    for (const partition of partitionIndexes) {
      const end = ends.get(partition) ?? 0n;
      const start = starts.get(partition) ?? 0n;
      const from = commits.get(partition) ?? -1n;
      const next = from > start ? from : start;
      if (end > next) lag += end - next;
    }
    return { group, lag: Number(lag) };
  });
}
