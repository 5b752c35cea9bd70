/**
 * A toy English WordPiece vocabulary for tiny test checkpoints: special tokens, a few hundred lowercase common
 * and retrieval-flavoured words, some `##` suffixes, digits and punctuation, and every single letter both as a
 * word start and as a `##` continuation, so that any lowercase word can be tokenised without [UNK].
 */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

const WORDS = `
the of and to in is was for on that with as by at from it an be are this which or his her their its not but
have has had were been will would can could should may might must do does did done what who whom whose when
where why how there here than then also only more most many much some any all each every other such no yes
one two three four five six seven eight nine ten first second new old good best high low large small long
short big great little own same different early late last next few several about after before between
during into over under through against without within among around above below up down out off again
i you he she we they me him us them my your our if so because while until although though very just
time year years day days people world life way work part place case number group fact point water home
health body food city state country government company system program question answer information data
history family school students music game city war law power money book story name area market energy
make made get use used find found give take know see said say think come go want look like need help show
call called play run live believe hold bring happen write provide sit stand lose pay meet include continue
set learn change lead understand watch follow stop create speak read allow add spend grow open walk win
offer remember love consider appear buy wait serve die send expect build stay fall cut reach kill remain
search query queries document documents passage passages relevance relevant rank ranking ranked retrieval
retrieve index model models neural network score scores match term terms word words text language
attention layer layers neuron neurons gradient gradients token tokens vector embedding embeddings
weight weights bias test train training evaluation metric precision recall result results collection
corpus topic topics user users web page pages click clicks engine engines answer definition meaning
boiling boils temperature degrees celsius fahrenheit sea level pure vaccine vaccines immune virus disease
cause causes symptoms treatment vitamin deficiency doctor medical blood heart brain cancer sleep caffeine
coffee tea capital australia canberra sydney france paris england london america american united states
president novel author wrote written pride prejudice stock price prices trading shares technology friday
population river mountain ocean island climate weather rain snow sun moon earth planet space star light
speed sound animal animals dog cat bird fish plant plants tree trees flower science physics chemistry
biology math mathematics computer software internet phone car bus train plane travel hotel city town
`;

const SUFFIXES = ['s', 'es', 'ed', 'ing', 'ly', 'er', 'ers', 'est', 'tion', 'ness', 'ment', 'al', 'ity', 'ic', 'ous', 'ful', 'less', 'able', 'ize', 'y'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz'.split('');
const DIGITS = '0123456789'.split('');
const PUNCT = ['.', ',', '?', '!', "'", '"', '-', '(', ')', ':', ';', '/', '%', '&'];

/** The vocabulary in id order (index 0 is [PAD]); entries are unique. */
export function toyVocab(): string[] {
  const all = [
    ...SPECIAL_TOKENS, ...PUNCT, ...DIGITS, ...LETTERS,
    ...WORDS.split(/\s+/).filter(Boolean),
    ...SUFFIXES.map((s) => `##${s}`), ...LETTERS.map((l) => `##${l}`), ...DIGITS.map((d) => `##${d}`),
  ];
  return [...new Set(all)];
}

// ---------------------------------------------------------------- toy retrieval topics (planted-model tests)

/** A toy information need: the query text and its three evidence words (all whole words of the vocabulary). */
export interface ToyTopic {
  query: string;
  /** words a relevant passage contains; no word is the evidence of two topics */
  evidence: readonly [string, string, string];
}

/**
 * Twelve topics for tools/make-toy-collection.ts and tools/make-planted-bert.ts. Each query holds one or two of its
 * evidence words; the other query words (what, temperature, water...) are ordinary words that non-relevant passages
 * may contain as distractors. The planted model detects the union of the evidence words (`evidenceWords`).
 */
export const TOY_TOPICS: readonly ToyTopic[] = [
  { query: 'what temperature is boiling water', evidence: ['boiling', 'celsius', 'fahrenheit'] },
  { query: 'what does a vaccine do', evidence: ['vaccine', 'immune', 'virus'] },
  { query: 'symptoms of vitamin deficiency', evidence: ['vitamin', 'deficiency', 'symptoms'] },
  { query: 'how much caffeine is in coffee', evidence: ['caffeine', 'coffee', 'tea'] },
  { query: 'what is the capital of australia', evidence: ['australia', 'canberra', 'sydney'] },
  { query: 'population of london', evidence: ['london', 'england', 'population'] },
  { query: 'who wrote pride and prejudice', evidence: ['pride', 'prejudice', 'novel'] },
  { query: 'stock price on friday', evidence: ['stock', 'trading', 'shares'] },
  { query: 'how does climate change the rain', evidence: ['climate', 'weather', 'rain'] },
  { query: 'what planet is next to the sun', evidence: ['planet', 'sun', 'moon'] },
  { query: 'what causes heart disease', evidence: ['heart', 'blood', 'cancer'] },
  { query: 'how does a neural network learn', evidence: ['neural', 'network', 'neuron'] },
];

/** The evidence words of every topic, in topic order (36 distinct words). */
export function evidenceWords(): string[] {
  return TOY_TOPICS.flatMap((t) => [...t.evidence]);
}

/**
 * Out-of-domain evidence: words that the relevant passages of out-of-domain toy collections hold besides the
 * topic's evidence (src/toy/collection.ts `domain: 'ood'`), detected by the planted model's OOD units only.
 */
export const OOD_WORDS: readonly string[] = ['physics', 'chemistry', 'biology', 'mathematics', 'software', 'internet', 'computer', 'science', 'island', 'ocean', 'mountain', 'river'];

/** Non-relevance cues: words that some non-relevant passages hold, detected by the planted non-relevance units. */
export const NONREL_WORDS: readonly string[] = ['not', 'without', 'against', 'lose', 'stop', 'off'];

/** Whole lowercase words of the vocabulary (no specials, letters, digits, punctuation or `##` pieces), in id order. */
export function toyWords(): string[] {
  return toyVocab().filter((w) => /^[a-z]{2,}$/.test(w));
}
