import { Igdm } from '@igdm/sdk';

export function App() {
  return <main>igdm inbox {typeof Igdm}</main>;
}
