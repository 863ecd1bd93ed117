import { actionQueries } from './actions.routes.js';
import { agentQueries } from './agents.routes.js';
import { dealQueries } from './deals.routes.js';
import type { AnyQueryRoute } from './query-route.js';
import { timelineQueries } from './timeline.routes.js';

/** Every query route under /api, in the order they are mounted. */
export const queryRoutes: AnyQueryRoute[] = [...dealQueries, ...actionQueries, ...agentQueries, ...timelineQueries];
