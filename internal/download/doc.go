// Package download fetches public data sets for lstmq: the backend of
// `lstmq data wikitext-2 DIR`.
//
// WikiText-2 comes as the three files train.txt, valid.txt and test.txt that
// PyTorch's word_language_model example ships. Each file is verified by its
// git blob id, the SHA-1 that git gives the file's contents,
//
//	id = SHA-1("blob " + decimal(len(content)) + "\x00" + content),
//
// so the table of expected ids can be checked against the repository with
// `git ls-tree`, and by its size where known. Files are written atomically
// (a failed or interrupted download never leaves a partial file under the
// final name), and a file already present with the right id is not fetched
// again.
package download
