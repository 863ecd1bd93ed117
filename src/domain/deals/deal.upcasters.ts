import type { Upcaster } from '../shared/upcasting.js';

/** The deal events' older shapes, each turned into the next version. */
export const dealUpcasters: Upcaster[] = [];
