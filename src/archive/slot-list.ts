/** A growing list of a state's slot numbers: 4 bytes each outside the JS heap, where an array of numbers costs 8 on it. */
export class SlotList implements Iterable<number> {
  #items = new Int32Array(64);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(slot: number): void {
    if (this.#length === this.#items.length) {
      const grown = new Int32Array(2 * this.#length);
      grown.set(this.#items);
      this.#items = grown;
    }
    this.#items[this.#length++] = slot;
  }

  at(index: number): number {
    return this.#items[index]!;
  }

  *[Symbol.iterator](): Iterator<number> {
    for (let i = 0; i < this.#length; i++) yield this.#items[i]!;
  }
}
