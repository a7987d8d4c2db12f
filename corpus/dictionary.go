package corpus

import "math"

// A Dictionary maps words to dense int32 ids, given in the order words are
// first added: the first new word gets id 0, the next 1, and so on. It is
// data.py's Dictionary (word2idx and idx2word).
type Dictionary struct {
	ids   map[string]int32
	words []string
}

// NewDictionary returns an empty dictionary.
func NewDictionary() *Dictionary {
	return &Dictionary{ids: make(map[string]int32)}
}

// Add returns the id of word, first giving it the next free id, Len(), if it
// is new. Add panics if the dictionary already holds math.MaxInt32 words.
func (d *Dictionary) Add(word string) int32 {
	if id, ok := d.ids[word]; ok {
		return id
	}
	if len(d.words) >= math.MaxInt32 {
		panic("corpus: dictionary full")
	}
	id := int32(len(d.words))
	d.ids[word] = id
	d.words = append(d.words, word)
	return id
}

// addBytes is Add for a word held in a byte slice. It copies the word only
// when the word is new, and reports false instead of panicking when the
// dictionary is full.
func (d *Dictionary) addBytes(word []byte) (int32, bool) {
	if id, ok := d.ids[string(word)]; ok { // no allocation for the lookup
		return id, true
	}
	if len(d.words) >= math.MaxInt32 {
		return 0, false
	}
	return d.Add(string(word)), true
}

// truncate forgets every word with an id >= n.
func (d *Dictionary) truncate(n int) {
	for _, w := range d.words[n:] {
		delete(d.ids, w)
	}
	clear(d.words[n:])
	d.words = d.words[:n]
}

// ID returns the id of word and whether the dictionary holds it.
func (d *Dictionary) ID(word string) (int32, bool) {
	id, ok := d.ids[word]
	return id, ok
}

// Word returns the word with the given id. It panics if id is not in
// [0, Len()).
func (d *Dictionary) Word(id int32) string {
	if id < 0 || int(id) >= len(d.words) {
		panic("corpus: word id out of range")
	}
	return d.words[id]
}

// Len returns the number of words in the dictionary (the model's ntokens).
func (d *Dictionary) Len() int { return len(d.words) }

// Words returns a copy of the words in id order: Words()[id] == Word(id).
func (d *Dictionary) Words() []string {
	return append([]string(nil), d.words...)
}
