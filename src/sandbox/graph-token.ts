import { randomBytes } from 'node:crypto';
import { type GraphAnswer, graphError, paramError } from './errors.ts';
import type { GraphCall } from './graph.ts';
import { TOKEN_LIFETIME_MS } from './state.ts';

// GET /refresh_access_token?grant_type=ig_refresh_token&access_token=...: Meta refreshes a
// long-lived Instagram token that is at least 24 h old and not expired (graph.ts checked that it is
// the current one and unexpired), for another 60 days. The sandbox then takes only the new token,
// so a gateway that kept sending with the old one is caught.

const MIN_AGE_MS = 24 * 3_600_000;

export function refreshAccessToken({ state, params }: GraphCall): GraphAnswer {
  if (params.grant_type !== 'ig_refresh_token')
    return paramError('The parameter grant_type must be ig_refresh_token');
  const now = state.now();
  if (now - state.token.issuedAt < MIN_AGE_MS)
    return graphError(100, 'A long-lived token can be refreshed only once it is at least 24 hours old', {
      type: 'IGApiException',
    });
  const token = `IGAA${randomBytes(24).toString('base64url')}`;
  state.options.accessToken = token;
  state.token.issuedAt = now;
  state.token.expiresAt = now + TOKEN_LIFETIME_MS;
  return {
    status: 200,
    body: { access_token: token, token_type: 'bearer', expires_in: TOKEN_LIFETIME_MS / 1000 },
  };
}
