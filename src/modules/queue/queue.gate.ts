import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The seam where the waiting room guards booking: the seat map, POST /reservations and
 * POST /payments ask the gate to admit the request for the concert they touch. The gate throws a
 * QUEUE_* DomainError to refuse.
 */
export interface QueueGate {
  /** False while no waiting room is configured: routes then skip resolving the concert. */
  readonly enabled: boolean;
  admit(request: FastifyRequest, concertId: string): Promise<void>;
}

/** Lets every request through. */
export const openGate: QueueGate = { enabled: false, admit: async () => {} };

/** A preHandler that finds the concert a request touches and asks the gate to admit it. */
export function gatePreHandler(gate: QueueGate, concertOf: (request: FastifyRequest) => Promise<string>) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    if (!gate.enabled) return;
    await gate.admit(request, await concertOf(request));
  };
}
