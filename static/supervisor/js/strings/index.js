// The supervisor pages' own sentences, added to the shared i18n core (/js/i18n.js; the words of
// the domain are in /js/vocabulary.js, those only these pages show in ../vocabulary.js, both
// generated from sync/vocabulary.py). Imported first by main.js, before anything renders.

import { addStrings, addWords } from '/js/i18n.js';
import { SUPERVISOR_WORDS } from '../vocabulary.js';
import id from './id.js';
import en from './en.js';

addWords(SUPERVISOR_WORDS);
addStrings({ id, en });
