import { createHash } from 'node:crypto';
import { igsidFromName, newIgsid } from './ids.ts';

// The simulated customers: who they are (an IGSID, a name, a username, the profile fields Meta
// returns) and when they last wrote, which is what the window rules of the Send API run on.

export interface Customer {
  igsid: string;
  name: string;
  username: string;
  followerCount: number;
  isUserFollowBusiness: boolean;
  isBusinessFollowUser: boolean;
  isVerifiedUser: boolean;
  /** When the customer first wrote a DM (Meta grants profile access from then on); null if never. */
  firstInboundAt: number | null;
  /** When the customer last wrote (message, postback or referral); the window counts from here. */
  lastInboundAt: number | null;
}

const FIRST =
  'Ana Ben Chloé Dmitri Emma Farah Gabriel Hana Inès Jonas Keiko Liam Maya Noah Olivia Pedro Quinn Rosa Sven Tariq Uma Victor Wen Zoë'.split(
    ' ',
  );
const LAST =
  'Silva Müller García Kowalski Nakamura Okafor Rossi Dubois Jensen Novak Costa Haddad Ivanova Kim Larsen Moreau Öztürk Patel Reyes Smith'.split(
    ' ',
  );

const hashOf = (s: string) => createHash('sha256').update(s).digest();

/** An Instagram-style username: lowercase ASCII letters, digits, dots and underscores. */
export function usernameOf(name: string, suffix: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, '.')
    .replace(/[^a-z0-9._]/g, '')
    .replace(/^[._]+|[._]+$/g, '')
    .slice(0, 20);
  return `${base || 'user'}_${suffix}`;
}

function profileFor(igsid: string, name: string): Omit<Customer, 'firstInboundAt' | 'lastInboundAt'> {
  const h = hashOf(igsid);
  return {
    igsid,
    name,
    username: usernameOf(name, String(h.readUInt16BE(4) % 100).padStart(2, '0')),
    followerCount: h.readUInt32BE(6) % 5000,
    isUserFollowBusiness: (h[10]! & 1) === 1,
    isBusinessFollowUser: (h[11]! & 1) === 1,
    isVerifiedUser: h[12]! % 20 === 0,
  };
}

/** A name for an IGSID nobody named: the same one every time. */
export function generatedName(igsid: string): string {
  const h = hashOf(`name:${igsid}`);
  return `${FIRST[h.readUInt16BE(0) % FIRST.length]} ${LAST[h.readUInt16BE(2) % LAST.length]}`;
}

export class CustomerBook {
  readonly #byId = new Map<string, Customer>();

  get(igsid: string): Customer | undefined {
    return this.#byId.get(igsid);
  }

  list(): Customer[] {
    return [...this.#byId.values()];
  }

  /**
   * The customer `from` names: an IGSID (digits), a username or name already known, or a new name
   * (the same name always gets the same IGSID); a fresh customer when `from` is absent.
   */
  resolve(from?: string): Customer {
    const key = from?.trim();
    if (!key) return this.#create(newIgsid());
    if (/^\d{5,}$/.test(key)) return this.#byId.get(key) ?? this.#create(key);
    const lower = key.toLowerCase();
    for (const c of this.#byId.values()) {
      if (c.username === lower || c.name.toLowerCase() === lower) return c;
    }
    const igsid = igsidFromName(key);
    return this.#byId.get(igsid) ?? this.#create(igsid, key);
  }

  /** The customer wrote at `time`: the window opens (again). */
  wrote(customer: Customer, time: number): void {
    customer.firstInboundAt ??= time;
    customer.lastInboundAt = Math.max(customer.lastInboundAt ?? time, time);
  }

  #create(igsid: string, name?: string): Customer {
    const customer: Customer = {
      ...profileFor(igsid, name ?? generatedName(igsid)),
      firstInboundAt: null,
      lastInboundAt: null,
    };
    this.#byId.set(igsid, customer);
    return customer;
  }
}
