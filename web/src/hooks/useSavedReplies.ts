import type { Igdm, SavedReply } from '@igdm/sdk';
import { useCallback, useEffect, useState } from 'react';

/** The team's saved replies (GET /v1/saved-replies), and one more saved. */
export function useSavedReplies(client: Igdm) {
  const [replies, setReplies] = useState<SavedReply[]>([]);
  const reload = useCallback(() => client.savedReplies.list().then(setReplies, () => undefined), [client]);
  useEffect(() => {
    void reload();
  }, [reload]);
  const save = useCallback(
    async (shortcut: string, text: string) => {
      const saved = await client.savedReplies.create({ shortcut, text });
      await reload();
      return saved;
    },
    [client, reload],
  );
  return { replies, reload, save };
}
