// The address names the open conversation: /conversations/<id>.

export const pathId = () => /^\/conversations\/([^/]+)/.exec(location.pathname)?.[1] ?? null;
