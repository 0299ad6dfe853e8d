// The officer app's own sentences, added to the shared i18n core (the words of the domain are in
// ../vocabulary.js). Imported first by app.js, so every string exists before anything renders.

import { addStrings } from '../i18n.js';
import id from './id.js';
import en from './en.js';

addStrings({ id, en });
