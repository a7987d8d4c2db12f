// Package corpus reads a word-level text corpus exactly as PyTorch's
// word_language_model example does (its data.py Corpus and Dictionary), so
// that the word ids it assigns match those of a model trained with that
// example, and lays the ids out in batches as its batchify and get_batch do.
//
// The Python being reproduced is
//
//	with open(path, 'r', encoding="utf8") as f:
//	    for line in f:
//	        words = line.split() + ['<eos>']
//	        for word in words:
//	            self.dictionary.add_word(word)   # ids in first-seen order
//
// run over train.txt, valid.txt and test.txt, in that order, with one shared
// dictionary. That pins down three things:
//
//   - Lines are those of Python's text-mode iteration with universal newlines:
//     "\n", "\r\n" and a lone "\r" each end a line, a last line without a
//     newline still counts, and an empty file has no lines. No other character
//     ends a line (not U+0085, U+2028, U+2029 nor the \x1c–\x1e separators,
//     which str.splitlines would split on but file iteration does not).
//   - Words are those of str.split() with no argument: maximal runs of
//     characters that are not Python whitespace. Python whitespace is
//     \t \n \v \f \r and space, U+001C–U+001F, U+0085, U+00A0, U+1680,
//     U+2000–U+200A, U+2028, U+2029, U+202F, U+205F and U+3000. U+200B and
//     U+FEFF are not whitespace; since the encoding is "utf8" and not
//     "utf-8-sig", a byte order mark stays part of the first word.
//   - Every line, even a blank one, ends with the word "<eos>". Ids are given
//     in the order words are first seen.
//
// Input must be valid UTF-8 (no surrogates, no overlong forms, nothing past
// U+10FFFF); Python refuses anything else, and so does this package, with a
// *UTF8Error giving the file and the byte offset of the first bad byte.
//
// Files are streamed through a bufio.Reader: memory holds the current word,
// never the whole file or line. A word may be at most MaxWord (1 MiB) bytes
// long, where Python has no limit: a longer one is an error naming the file
// and offset, so that one hostile line cannot take memory without bound.
package corpus
