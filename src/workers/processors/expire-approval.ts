import { actionDecider } from '../../domain/actions/action.decider.js';
import type { JsonObject } from '../../eventstore/contract.js';
import type { JobContext } from '../job-context.js';
import type { JobData } from '../jobs.js';

const decider = actionDecider();

/**
 * Runs at an approval's deadline: expires the action if it still waits for approval, and does
 * nothing if it was decided meanwhile. A job that fires a little early (clocks differ) is refused
 * as not due, and its retry comes after the deadline.
 */
export async function expireApproval(context: JobContext): Promise<JsonObject> {
  const { actionId } = context.job.data as JobData['expire-approval'];
  const result = await context.send(`action-${actionId}`, decider, { type: 'ExpireAction', data: {} }, 'expire');
  return { expired: result.events.length > 0 };
}
