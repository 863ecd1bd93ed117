import { z } from 'zod';
import { POSITION_TOKEN } from '../eventstore/position.js';
import { ProblemBody } from './problem-catalog.js';

/*
 * Shapes every area of the API answers with. Each has an id (`.meta({ id })`), so the OpenAPI
 * description holds it once, under components.schemas, and refers to it. None of them is ever part
 * of an event: event types' JSON Schemas (GET /api/integrations/event-types) stay self-contained.
 */

export const PositionToken = z
  .string()
  .regex(POSITION_TOKEN)
  .meta({ id: 'Position', description: "A place in the global log, opaque: hand it back unchanged (`?position=` or `X-Position` on a query reads your own write)" });

export const RevisionText = z
  .string()
  .regex(/^\d{1,19}$/)
  .meta({ id: 'Revision', description: "A stream's revision, counted from 0, as a decimal string (also the ETag, quoted)" });

/** A command's answer: where the stream and the log stand after it. */
export const CommandResult = z
  .object({
    revision: RevisionText.nullable().describe("The stream's revision after the command; null while the stream has no events"),
    position: PositionToken.nullable().describe('Where the command\'s last event sits in the log; null while the stream has no events'),
  })
  .meta({ id: 'CommandResult', description: 'What a command changed: the new revision (also the ETag) and its position in the log' });
export type CommandResult = z.infer<typeof CommandResult>;

/** A creating command's answer (201, with Location). */
export const CreatedResult = z
  .object({
    id: z.uuid().describe('The new resource\'s id (Location names it too)'),
    revision: RevisionText,
    position: PositionToken,
  })
  .meta({ id: 'Created', description: 'What a creation made: the new id, its stream\'s revision (also the ETag) and its position in the log' });
export type CreatedResult = z.infer<typeof CreatedResult>;

/**
 * RFC 9457 problem details, as every refusal and failure is answered: the catalogue's shape
 * (src/http/problem-catalog.ts), where `code` is one it lists and `title` is the same for every
 * occurrence of a code.
 */
export const Problem = ProblemBody.meta({ id: 'Problem', description: 'RFC 9457 problem details' });
