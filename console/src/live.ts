import { useEffect, useRef } from 'preact/hooks';

/**
 * Live pages: the server pushes what changed (views and a position), and a page that shows one of
 * those views reads again at that position. The change stream itself is `GET /api/console/changes`.
 *
 * `views` names read models (`deals`, `actions`, `agents`, `timeline`, `operations`); `onChange`
 * gets the position to read at (pass it as `?position=`), so a re-read never shows older data.
 */
export type View = 'deals' | 'actions' | 'agents' | 'timeline' | 'operations';

export function useLive(views: readonly View[], onChange: (position: string) => void): void {
  const callback = useRef(onChange);
  callback.current = onChange;
  const key = views.join(',');
  useEffect(() => {
    // Wired to the change stream in live-stream.ts (to come); until then pages are read on load and on demand.
    return undefined;
  }, [key]);
}
