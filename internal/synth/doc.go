// Package synth generates a synthetic corpus in the layout of WikiText-2
// (train.txt, valid.txt, test.txt), so that lstmq can train and evaluate a
// model with no network and no Python. The text is made-up but has the
// statistics a language model can learn, and the same Config gives the same
// bytes on every platform.
//
// # Lexicon
//
// Config.Vocab distinct tokens: made-up pronounceable words built from
// syllables (onset, vowel, optional coda), the punctuation "." "," and "=",
// and "<unk>". Words fall into classes, each with a fixed share of the
// vocabulary: determiners (two per noun class), pronouns (one per noun
// class), relativizers, prepositions, conjunctions, and the open classes
// nouns (≈46%), verbs (≈26%), adjectives (≈16%), adverbs and capitalized
// names (≈6% each). Nouns, names and verbs are split among four noun classes
// ("genders"); verbs further into intransitive and transitive. Within a class
// the r-th word (r = 0, 1, …; shortest words first, as in natural languages)
// is drawn with probability proportional to 1/(r+2), a Zipf–Mandelbrot law,
// computed in integers so that sampling is exact on every platform.
//
// # Grammar
//
// A sentence is one of
//
//	NP(g) VP(g) .
//	PP , NP(g) VP(g) .
//	Adv , NP(g) VP(g) .
//	NP(g) VP(g) Conj NP(h) VP(h) .
//	NP(g) , Rel VP(g) , VP(g) .          relative clause
//	Pron(g) VP(g) .                      g = gender of the previous subject
//
// with
//
//	NP(g) = Det(g) Adj{0,1,2} Noun(g) [PP]  |  Name(g)
//	VP(g) = Vi(g) [Adv] [PP]  |  Vt(g) Obj [PP]
//	Obj   = Det(h) Adj{0,1,2} Noun(h)  |  Name(h)
//	PP    = Prep Obj
//
// so a verb agrees with its subject's noun class across any adjectives,
// prepositional phrases and relative clauses in between, a pronoun refers
// back to the previous sentence's subject, and each transitive verb prefers
// objects of one class. Articles open with a title " = Name = " whose name,
// and a handful of topic nouns drawn for the article, recur in its sentences;
// sections are headed " = = Name = = ". Paragraphs are lines of 3–9
// sentences. About 1.5% of open-class words are replaced by "<unk>", as in
// WikiText.
//
// # Determinism
//
// All randomness comes from math/rand/v2's PCG, seeded from Config.Seed and a
// constant per stream (the lexicon, and each split separately, so a split does
// not change when another split's size does), and all choices are made with
// integer arithmetic, never by iterating over a map.
package synth
