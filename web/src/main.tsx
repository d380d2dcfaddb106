import { answeredWithin, startEarly } from './lib/early.ts';
import { firstPage, NO_FILTERS } from './lib/filters.ts';
import { pathId } from './lib/route.ts';
import { clientFor, storedKey } from './lib/session.ts';
// The styles by part, in cascade order (the phone's width last: it overrides the others).
import './styles/base.css';
import './styles/list.css';
import './styles/thread.css';
import './styles/composer.css';
import './styles/panels.css';
import './styles/phone.css';

// The entry is small: signed in already, it asks igdm for the first screen at once, and React
// (the larger part, loaded meanwhile) renders it with the answers, which have usually come by then
// (it waits at most FIRST_SCREEN_WAIT_MS longer for them, then renders without).
const FIRST_SCREEN_WAIT_MS = 150;
const key = storedKey();
if (key) startEarly(clientFor(key), firstPage(NO_FILTERS), pathId());

const [{ mount }] = await Promise.all([
  import('./mount.tsx'),
  key ? answeredWithin(FIRST_SCREEN_WAIT_MS) : null,
]);
mount(document.getElementById('root')!);
