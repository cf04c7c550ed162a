import { useSyncExternalStore } from "react";

const subscribe = () => () => {};

/**
 * false in the server's render and in the browser's hydrating render, true afterwards. Text that
 * depends on the browser (its time zone, its locale) waits for it, so hydration never compares two
 * different texts (React error #418 when the server's time zone differs from the visitor's).
 */
export function useHydrated(): boolean {
  return useSyncExternalStore(
    subscribe,
    () => true,
    () => false,
  );
}
