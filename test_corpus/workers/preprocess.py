"""Offline preprocessing: tokenise a text corpus and collect statistics with process pools."""
import multiprocessing as mp
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor


def load_vocab(words):
    return {word: index for index, word in enumerate(sorted(set(words)), start=1)}


def encode_corpus(lines, vocab, max_workers=2):
    unknown = 0

    def encode(line):
        return [vocab.get(word, unknown) for word in line.split()]

    with ProcessPoolExecutor(max_workers=max_workers) as executor:
        futures = [executor.submit(encode, line) for line in lines]
        return [future.result(timeout=30) for future in futures]


def count_words(lines, processes=2):
    # fork is the fastest start method on Linux; it does not help here
    ctx = mp.get_context("fork")
    with ctx.Pool(processes) as pool:
        counts = pool.map(lambda line: Counter(line.split()), lines)
    return sum(counts, Counter())


def main(argv):
    with open(argv[1], encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    vocab = load_vocab(word for line in lines for word in line.split())
    print(len(encode_corpus(lines, vocab)), "lines encoded")
    print(count_words(lines).most_common(10))


if __name__ == "__main__":
    main(sys.argv)
