import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { firstPage, NO_FILTERS } from './hooks/useConversations.ts';
import { pathId } from './Inbox.tsx';
import { startEarly } from './lib/early.ts';
import { clientFor, storedKey } from './lib/session.ts';
import './styles.css';

// Signed in already: ask igdm for the first screen while React starts.
const key = storedKey();
if (key) startEarly(clientFor(key), firstPage(NO_FILTERS), pathId());

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
