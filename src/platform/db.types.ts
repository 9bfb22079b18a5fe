import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export type ReservationStatus = 'HELD' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED';
export type SeatStatus = 'AVAILABLE' | 'HELD' | 'SOLD';
export type LedgerType = 'CHARGE' | 'PAYMENT' | 'REFUND';

export interface UsersTable {
  id: string;
  name: string;
  token_hash: string;
  created_at: CreatedAt;
}

export interface WalletsTable {
  user_id: string;
  balance: Generated<number>;
  updated_at: Generated<Date>;
}

export interface LedgerEntriesTable {
  id: string;
  user_id: string;
  type: LedgerType;
  amount: number;
  balance_after: number;
  reservation_id: string | null;
  created_at: Timestamp;
}

export interface ConcertsTable {
  id: string;
  title: string;
  artist: string;
  venue: string;
  created_at: CreatedAt;
}

export interface SchedulesTable {
  id: string;
  concert_id: string;
  starts_at: Timestamp;
  booking_opens_at: Timestamp;
  seat_count: number;
  price: number;
}

export interface SeatsTable {
  schedule_id: string;
  number: number;
  status: Generated<SeatStatus>;
  reservation_id: string | null;
  held_until: Timestamp | null;
}

export interface ReservationsTable {
  id: string;
  user_id: string;
  concert_id: string;
  schedule_id: string;
  seat_number: number;
  price: number;
  status: ReservationStatus;
  held_until: Timestamp;
  created_at: Timestamp;
  confirmed_at: Timestamp | null;
  cancelled_at: Timestamp | null;
}

export interface PaymentsTable {
  id: string;
  reservation_id: string;
  user_id: string;
  amount: number;
  status: 'PAID' | 'REFUNDED';
  paid_at: Timestamp;
  refunded_at: Timestamp | null;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  fingerprint: string;
  state: 'IN_PROGRESS' | 'DONE';
  response_status: number | null;
  response_body: unknown;
  locked_until: Timestamp;
  created_at: Timestamp;
}

export interface OutboxTable {
  id: Generated<string>;
  seq: Generated<number>;
  aggregate_id: string;
  type: string;
  version: number;
  payload: unknown;
  occurred_at: Timestamp;
  published_at: Timestamp | null;
  attempts: Generated<number>;
  last_error: string | null;
  parked_at: Timestamp | null;
  next_attempt_at: Timestamp | null;
  claimed_by: string | null;
  claimed_until: Timestamp | null;
  trace_context: string | null;
}

export interface ProcessedEventsTable {
  consumer: string;
  event_id: string;
  processed_at: Generated<Date>;
}

export interface BrokerEpochsTable {
  topic: string;
  epoch: string;
  acked_through: Timestamp;
  republishing: Generated<boolean>;
  last_id: string | null;
}

export interface DB {
  users: UsersTable;
  wallets: WalletsTable;
  ledger_entries: LedgerEntriesTable;
  concerts: ConcertsTable;
  schedules: SchedulesTable;
  seats: SeatsTable;
  reservations: ReservationsTable;
  payments: PaymentsTable;
  idempotency_keys: IdempotencyKeysTable;
  outbox: OutboxTable;
  processed_events: ProcessedEventsTable;
  broker_epochs: BrokerEpochsTable;
}
