// What the seeded customers and the business write: varied, shop-like texts in a few languages, from
// templates with slots (products, colours, cities, order numbers, ...), drawn by a seeded generator so
// that every seed is the same. Word frequencies span the range a search meets: words in a third of the
// messages ("order"), in a few percent ("linen", "lisbon"), and order numbers found in one conversation.

/** A small, fast, seeded generator (mulberry32): the same seed, the same sequence. */
export function generator(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!,
    chance: (p: number) => next() < p,
    /** A standard normal deviate (Box–Muller). */
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}
export type Rng = ReturnType<typeof generator>;

export const PRODUCTS = [
  'linen shirt',
  'denim jacket',
  'wool sweater',
  'silk scarf',
  'leather belt',
  'canvas tote',
  'cotton dress',
  'rain jacket',
  'running shoes',
  'ankle boots',
  'straw hat',
  'beanie',
  'cashmere cardigan',
  'cargo pants',
  'pleated skirt',
  'bomber jacket',
  'flannel shirt',
  'sandals',
  'crossbody bag',
  'sunglasses',
  'hoodie',
  'trench coat',
  'chinos',
  'loafers',
  'parka',
  'backpack',
  'earrings',
  'necklace',
  'bracelet',
  'wallet',
  'swimsuit',
  'kimono',
  'overalls',
  'puffer vest',
  'turtleneck',
  'corduroy trousers',
  'mules',
  'sneakers',
  'bucket hat',
  'blazer',
];
const COLOURS = [
  'black',
  'white',
  'navy',
  'olive',
  'beige',
  'burgundy',
  'mustard',
  'sage',
  'terracotta',
  'ivory',
  'charcoal',
  'lilac',
  'camel',
  'forest green',
  'sky blue',
  'coral',
];
const SIZES = ['XS', 'S', 'M', 'L', 'XL', 'XXL', '36', '38', '40', '42', '44'];
export const CITIES = [
  'Lisbon',
  'Porto',
  'Madrid',
  'Valencia',
  'Barcelona',
  'Paris',
  'Lyon',
  'Berlin',
  'Munich',
  'Hamburg',
  'Zürich',
  'Vienna',
  'Milan',
  'Rome',
  'Amsterdam',
  'Brussels',
  'London',
  'Dublin',
  'São Paulo',
  'Rio',
  'Buenos Aires',
  'Mexico City',
  'New York',
  'Toronto',
  'Istanbul',
  'Warsaw',
  'Prague',
  'Copenhagen',
  'Stockholm',
  'Oslo',
  'Athens',
  'Seville',
  'Bilbao',
  'Marseille',
  'Nice',
];
const CARRIERS = ['DHL', 'UPS', 'FedEx', 'CTT', 'Correos', 'La Poste', 'GLS', 'DPD'];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'the weekend'];
const NAMES = ['Ana', 'Marta', 'João', 'Lucía', 'Chloé', 'Lena', 'Giulia', 'Sofia', 'Noah', 'Zoë', 'Mehmet'];
const EMOJI = ['😍', '🙏', '👍', '❤️', '😊', '🔥', '✨', '😅', '🥰', '👀'];

/** What a customer writes; `{order}` is the conversation's own order number. */
const INBOUND = [
  'Hi! Is the {product} still available in size {size}?',
  'Hello, do you have the {product} in {colour}?',
  'hi',
  'Hey there {emoji}',
  'How much is the {product}?',
  'Do you ship to {city}? I need it before {day}.',
  'My order number is #{order}, it says shipped but nothing arrived yet.',
  'Where is my order #{order}? The {carrier} tracking has not moved since {day}.',
  'Can I change the delivery address for order {order}? I moved to {city}.',
  'I would like to return the {product}, it is too small. Order {order}',
  'The {product} arrived damaged 😢 what can I do?',
  'Thank you so much!! {emoji} the {product} is perfect',
  'thanks!',
  'ok {emoji}',
  'Do you have a store in {city} or only online?',
  'Is there a discount code for the {product}?',
  'When will the {colour} {product} be back in stock?',
  'Can I pay on delivery?',
  'What is the delivery time to {city}?',
  'I ordered the {product} in {size} but received {size}. Order #{order}',
  'Please call me back after 5pm, thanks — {name}',
  '¿Hacen envíos a {city}? Necesito el pedido antes del viernes.',
  'Hola, ¿tienen la {product} en talla {size}?',
  'Olá, gostaria de saber o preço da entrega para {city}.',
  'Bonjour, est-ce que la commande n° {order} est déjà partie ?',
  'Hallo, die Größe passt leider nicht – kann ich umtauschen? Bestellung {order}',
  'Ciao! Avete anche il colore {colour}?',
  'Is the {product} true to size? I am usually an {size}.',
  'Do you do gift wrapping? It is for my sister in {city} {emoji}',
  'I saw the {product} in your story, how much?',
  'Any update on my refund for order {order}?',
  'The package was left at the wrong door, {carrier} says delivered',
  'Can I order by DM? I want the {product} in {colour}, size {size}',
  'Love your shop {emoji}{emoji}',
  'Are the {product} made of organic cotton?',
  'Is shipping free over 50 euros?',
];
/** What the business answers. */
const OUTBOUND = [
  'Hi {name}! Yes, the {product} is available in {size} {emoji}',
  'Thanks for your message! We ship to {city} with {carrier}, it takes 2–4 working days.',
  'Your order #{order} left our warehouse today, tracking: https://track.example.com/{order}',
  'Sorry about that! Could you send us a photo of the damaged {product}?',
  'We have it in {colour} and {colour}. Which one would you like?',
  'The {product} costs 49 euros, shipping is free over 50 euros.',
  'You can return it within 30 days: https://shop.example.com/returns',
  'Of course! Use code WELCOME10 for 10% off your first order.',
  'The refund for order {order} was sent today, it can take 5 days to show.',
  'Thank you {emoji}',
  'We will restock the {product} next {day}.',
  'Yes, we have a store in {city}! Open Monday to Saturday, 10–19h.',
  'Hola! Sí, enviamos a {city}. El envío tarda 3 días.',
  'Olá! Enviamos para {city} com {carrier}.',
  'Bonjour ! Oui, la commande {order} est partie ce matin.',
  'Can you confirm your address for order {order}?',
  'Great choice! Size {size} fits most people who are usually {size}.',
  'We do gift wrapping for free, just add a note at checkout {emoji}',
];

export interface Slots {
  /** The conversation's order number (5 digits after a letter). */
  order: string;
  /** The customer's product of interest, mostly the same through a conversation. */
  product: string;
  city: string;
}

function fill(template: string, g: Rng, slots: Slots): string {
  return template.replace(/\{(\w+)\}/g, (_, slot: string) => {
    switch (slot) {
      case 'product':
        return g.chance(0.8) ? slots.product : g.pick(PRODUCTS);
      case 'city':
        return g.chance(0.8) ? slots.city : g.pick(CITIES);
      case 'order':
        return slots.order;
      case 'colour':
        return g.pick(COLOURS);
      case 'size':
        return g.pick(SIZES);
      case 'carrier':
        return g.pick(CARRIERS);
      case 'day':
        return g.pick(DAYS);
      case 'name':
        return g.pick(NAMES);
      case 'emoji':
        return g.pick(EMOJI);
      default:
        return slot;
    }
  });
}

export const inboundText = (g: Rng, slots: Slots): string => fill(g.pick(INBOUND), g, slots);
export const outboundText = (g: Rng, slots: Slots): string => fill(g.pick(OUTBOUND), g, slots);

/** A conversation's own slots. */
export const slotsFor = (g: Rng, index: number): Slots => ({
  order: `${String.fromCharCode(65 + (index % 26))}${String(10_000 + ((index * 7919) % 90_000)).padStart(5, '0')}`,
  product: g.pick(PRODUCTS),
  city: g.pick(CITIES),
});

/**
 * What the benchmark searches for (GET /v1/conversations?q=): words in many messages, in a few,
 * and two words together. Rare terms are order numbers, drawn from the seed's manifest.
 */
export const SEARCH = {
  common: ['order', 'delivery', 'thanks', 'size', 'hi', 'ship', 'the', 'available'],
  medium: [
    'linen',
    'lisbon',
    'cashmere',
    'refund',
    'damaged',
    'zurich',
    'terracotta',
    'kimono',
    'porto',
    'dhl',
  ],
  pairs: ['ship lisbon', 'linen shirt', 'refund order', 'wool sweater', 'return small', 'store madrid'],
};
