// The supervisor pages' own sentences, added to the shared i18n core (/js/i18n.js; the words of
// the domain are in /js/vocabulary.js). Imported first by main.js, before anything renders.

import { addStrings } from '/js/i18n.js';
import id from './id.js';
import en from './en.js';

addStrings({ id, en });
