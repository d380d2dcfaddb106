import { startEarly } from './lib/early.ts';
import { firstPage, NO_FILTERS } from './lib/filters.ts';
import { pathId } from './lib/route.ts';
import { clientFor, storedKey } from './lib/session.ts';
import './styles.css';

// The entry is small: signed in already, it asks igdm for the first screen at once, and React
// (the larger part, loaded next) finds the answers on their way.
const key = storedKey();
if (key) startEarly(clientFor(key), firstPage(NO_FILTERS), pathId());

const { mount } = await import('./mount.tsx');
mount(document.getElementById('root')!);
