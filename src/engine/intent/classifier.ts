import corpusFile from './corpus.json' with { type: 'json' };

// Offline intent classification of inbound DM text: enquiry, order, collab, support or general.
//
// A multinomial naive-Bayes model over unigrams and bigrams with Laplace smoothing, plus a small
// table of strong keyword cues (refund -> support, collab -> collab, buy -> order, thanks -> general...)
// that nudge the scores. No network, no downloaded model: the model is derived deterministically from
// the corpus shipped next to this file (corpus.json) when the default classifier is first used
// (about 10-15 ms for ~500 examples, so there is no separate build step).
//
// Text that is empty or punctuation only (reason `empty`), emoji only (`no-words`), shares no word
// with the corpus, or whose best non-general intent has less than CONFIDENCE_THRESHOLD probability
// (`low-confidence`) is classified `general`.

export const INTENTS = ['enquiry', 'order', 'collab', 'support', 'general'] as const;
export type Intent = (typeof INTENTS)[number];

export type Corpus = Readonly<Record<Intent, readonly string[]>>;

export interface IntentResult {
  intent: Intent;
  /** Probability of the returned intent's class under the model, 0..1. When the model was unsure
   * and the result fell back to `general`, this is the (low) probability of the best class. */
  confidence: number;
  /** Posterior probability of every intent (sums to 1). */
  scores: Record<Intent, number>;
  /** Why this intent: the model's choice, or one of the fallbacks to `general`. */
  reason: 'model' | 'empty' | 'no-words' | 'low-confidence';
}

export interface IntentModel {
  readonly logPrior: Readonly<Record<Intent, number>>;
  /** Smoothed log P(feature | intent) for every feature seen in training. */
  readonly logLikelihood: ReadonlyMap<string, Readonly<Record<Intent, number>>>;
}

/** Below this posterior probability for the best class, the text is classified `general`. With five
 * classes a uniform guess is 0.2; 0.45 means the model must clearly prefer one intent. */
export const CONFIDENCE_THRESHOLD = 0.45;

/** Laplace (add-one) smoothing. */
const ALPHA = 1;

/** Inputs are cut to this many characters: DMs are at most 1000 bytes, and longer text adds nothing. */
const MAX_CHARS = 4000;

/** Strong cues, matched on normalised tokens (single words or two-word phrases, accents stripped).
 * Each distinct cue present adds KEYWORD_BOOST (in nats) to its intent's log score; a plural
 * ("partnerships") matches its singular cue. */
const KEYWORDS: Readonly<Record<Intent, readonly string[]>> = {
  enquiry: [
    'price',
    'prices',
    'pricing',
    'cost',
    'how much',
    'available',
    'availability',
    'in stock',
    'restock',
    'hours',
    'open',
    'ship to',
    'shipping to',
    'quanto custa',
    'preco',
    'precio',
    'cuanto cuesta',
    'disponible',
    'disponivel',
  ],
  order: [
    'buy',
    'ordered',
    'ordering',
    'purchase',
    'payment',
    'paid',
    'pay',
    'preorder',
    'pre order',
    'place an',
    'reserve',
    'dispatched',
    'shipped',
    'comprar',
    'pedido',
    'encomendar',
    'pagamento',
    'pago',
  ],
  collab: [
    'collab',
    'collaborate',
    'collaboration',
    'partnership',
    'partner',
    'sponsor',
    'sponsorship',
    'influencer',
    'ambassador',
    'wholesale',
    'reseller',
    'resell',
    'stockist',
    'affiliate',
    'ugc',
    'media kit',
    'work together',
    'parceria',
    'permuta',
    'atacado',
    'revender',
    'colaboracion',
    'patrocinar',
    'por mayor',
  ],
  support: [
    'refund',
    'broken',
    'broke',
    'damaged',
    'defective',
    'wrong',
    'missing',
    'complaint',
    'cancel',
    'return',
    'exchange',
    'hacked',
    'not working',
    'doesnt work',
    'isnt working',
    'cant log',
    'charged',
    'overcharged',
    'money back',
    'problem',
    'error',
    'cancelled',
    'never received',
    'not happy',
    'disappointed',
    'worst',
    'rude',
    'ruined',
    'cracked',
    'leaked',
    'cobrado',
    'cobraron',
    'dinheiro de volta',
    'cancelar',
    'reembolso',
    'quebrado',
    'defeito',
    'troca',
    'roto',
    'no funciona',
  ],
  general: [
    'hi',
    'hello',
    'hey',
    'thanks',
    'thank you',
    'thank u',
    'thx',
    'ty',
    'love it',
    'love this',
    'love your',
    'congrats',
    'stunning',
    'gorgeous',
    'beautiful',
    'cute',
    'obsessed',
    'how are',
    'oi',
    'ola',
    'hola',
    'obrigada',
    'obrigado',
    'gracias',
    'lindo',
  ],
};
const KEYWORD_BOOST = 2.5;

const EMOJI = /\p{Extended_Pictographic}/u;
const TOKEN = /[\p{L}\p{N}]+|\p{Extended_Pictographic}/gu;

/** Lowercase, strip accents and apostrophes, split into words and single emoji (skin tones and
 * variation selectors dropped), so "Preço", "preco" and "PRECO" match, and "don't" is "dont". */
export function tokenize(text: string): string[] {
  const normalised = text
    .slice(0, MAX_CHARS)
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/['’`´]/g, '')
    .toLowerCase();
  return normalised.match(TOKEN) ?? [];
}

/** Unigrams plus bigrams of adjacent word tokens (emoji count as unigrams only). */
function features(tokens: readonly string[]): string[] {
  const out = [...tokens];
  for (let i = 0; i + 1 < tokens.length; i++) {
    const a = tokens[i]!;
    const b = tokens[i + 1]!;
    if (!EMOJI.test(a) && !EMOJI.test(b)) out.push(a + ' ' + b);
  }
  return out;
}

function record(fill: (intent: Intent) => number): Record<Intent, number> {
  return {
    enquiry: fill('enquiry'),
    order: fill('order'),
    collab: fill('collab'),
    support: fill('support'),
    general: fill('general'),
  };
}

/** Trains a model from labelled examples. Deterministic: same corpus, same model. */
export function train(corpus: Corpus): IntentModel {
  const counts = new Map<string, Record<Intent, number>>();
  const totals = record(() => 0);
  let examples = 0;
  for (const intent of INTENTS) {
    for (const text of corpus[intent]) {
      examples++;
      for (const feature of features(tokenize(text))) {
        let row = counts.get(feature);
        if (!row) {
          row = record(() => 0);
          counts.set(feature, row);
        }
        row[intent]++;
        totals[intent]++;
      }
    }
  }
  const vocabulary = counts.size;
  const logPrior = record((intent) => Math.log((corpus[intent].length + ALPHA) / (examples + ALPHA * 5)));
  const logLikelihood = new Map<string, Record<Intent, number>>();
  for (const [feature, row] of counts) {
    logLikelihood.set(
      feature,
      record((intent) => Math.log((row[intent] + ALPHA) / (totals[intent] + ALPHA * vocabulary))),
    );
  }
  return { logPrior, logLikelihood };
}

const KEYWORD_CUES: ReadonlyMap<string, Intent> = new Map(
  Object.entries(KEYWORDS).flatMap(([intent, words]) => words.map((w) => [w, intent as Intent])),
);

function allGeneral(reason: IntentResult['reason']): IntentResult {
  return {
    intent: 'general',
    confidence: 1,
    scores: record((intent) => (intent === 'general' ? 1 : 0)),
    reason,
  };
}

/** Classifies text with the given model. Never throws for any string. */
export function classify(model: IntentModel, text: string): IntentResult {
  const tokens = tokenize(typeof text === 'string' ? text : '');
  if (tokens.length === 0) return allGeneral('empty');
  if (tokens.every((t) => EMOJI.test(t))) return allGeneral('no-words');

  const log = record((intent) => model.logPrior[intent]);
  const feats = features(tokens);
  let known = 0;
  for (const feature of feats) {
    const row = model.logLikelihood.get(feature);
    if (!row) continue;
    known++;
    for (const intent of INTENTS) log[intent] += row[intent];
  }
  const cues = new Set<string>();
  for (const feature of feats) {
    // "partnerships" cues like "partnership".
    const cue = KEYWORD_CUES.has(feature) ? feature : feature.endsWith('s') ? feature.slice(0, -1) : '';
    if (KEYWORD_CUES.has(cue)) cues.add(cue);
  }
  for (const cue of cues) log[KEYWORD_CUES.get(cue)!] += KEYWORD_BOOST;

  // Softmax, shifted by the maximum so long texts do not underflow.
  const max = Math.max(...INTENTS.map((i) => log[i]));
  const exp = record((intent) => Math.exp(log[intent] - max));
  const sum = INTENTS.reduce((s, i) => s + exp[i], 0);
  const scores = record((intent) => exp[intent] / sum);

  // Ties go to the earlier intent in INTENTS, so the result is stable.
  let best: Intent = INTENTS[0];
  for (const intent of INTENTS) if (scores[intent] > scores[best]) best = intent;

  if (known === 0 && cues.size === 0)
    return { intent: 'general', confidence: scores[best], scores, reason: 'low-confidence' };
  if (best !== 'general' && scores[best] < CONFIDENCE_THRESHOLD) {
    return { intent: 'general', confidence: scores[best], scores, reason: 'low-confidence' };
  }
  return { intent: best, confidence: scores[best], scores, reason: 'model' };
}

/** The corpus shipped with igdm. */
export const defaultCorpus: Corpus = corpusFile.intents;

let defaultModel: IntentModel | null = null;

/** Classifies text with the model trained on the shipped corpus (trained on first use). */
export function classifyIntent(text: string): IntentResult {
  defaultModel ??= train(defaultCorpus);
  return classify(defaultModel, text);
}
