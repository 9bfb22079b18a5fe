import { describe } from 'vitest';
import { createKafkaBroker } from '../../src/modules/events/broker.kafka.js';
import { describeBrokerContract } from './broker.contract.js';

/**
 * The shared contract against a real Kafka, only when KAFKA_BROKERS (comma-separated host:port)
 * is set: no Kafka runs on the development machine. Joining a group triggers a rebalance, so the
 * suite waits a few seconds after members join before publishing.
 */
const brokers = process.env.KAFKA_BROKERS?.split(',')
  .map((b) => b.trim())
  .filter(Boolean);

function kafkaSuite(list: string[]) {
  describeBrokerContract(
    'contract',
    async () => {
      const broker = createKafkaBroker({
        brokers: list,
        clientId: 'ticketing-test',
        onError: (err, where) => {
          if (where !== 'handler') console.error(`kafka broker ${where}:`, err);
        },
      });
      // Kafka's default message.max.bytes (set KAFKA_MAX_MESSAGE_BYTES when the cluster differs).
      return { broker, maxMessageBytes: Number(process.env.KAFKA_MAX_MESSAGE_BYTES ?? 1_048_588), cleanup: () => broker.close() };
    },
    { settleMs: 3_000, waitMs: 20_000 },
  );
}

// Skipped, with the reason in its title, where no Kafka broker is configured.
const haveKafka = Boolean(brokers && brokers.length > 0);
describe.skipIf(!haveKafka)(`Kafka broker${haveKafka ? '' : ' (KAFKA_BROKERS unset: skipped)'}`, () => kafkaSuite(brokers ?? []));
