import { useEffect, useRef } from 'react';

// Keys that act anywhere but in a field being typed in (j/k move, r reply, e resolve, / search;
// `esc` for Escape).

export function useShortcuts(keys: Record<string, () => void>) {
  const current = useRef(keys);
  current.current = keys;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      const target = e.target as HTMLElement | null;
      const typing = target?.closest('input, textarea, select, [contenteditable="true"]');
      if (typing) return;
      const action = current.current[e.key === 'Escape' ? 'esc' : e.key];
      if (!action) return;
      e.preventDefault();
      action();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
}
