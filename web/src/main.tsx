import { startEarly } from './lib/early.ts';
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
// (the larger part, loaded next) finds the answers on their way.
const key = storedKey();
if (key) startEarly(clientFor(key), firstPage(NO_FILTERS), pathId());

const { mount } = await import('./mount.tsx');
mount(document.getElementById('root')!);
