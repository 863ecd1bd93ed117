import type { AnyQueryRoute } from './query-route.js';

/** Every query route under /api, in the order they are mounted. */
export const queryRoutes: AnyQueryRoute[] = [];
