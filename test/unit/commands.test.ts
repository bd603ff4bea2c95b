import { describe, expect, it } from "vitest";
import { SCRIPT_EVENT_ID as eventId, scriptHoldInput as request } from "../../testkit/fixtures.js";
import type { Gate } from "../../engine/admission.js";
import {
  confirmArgs,
  decodeHold,
  decodeHoldBatch,
  decodeLookup,
  decodeRecover,
  decodeSweep,
  HOLD_BATCH_REQUEST_ARGS,
  holdArgs,
  holdBatchArgs,
  recoverArgs,
} from "../../engine/commands.js";
import { EngineError } from "../../engine/errors.js";
import { eventKeys } from "../../engine/keys.js";

// The values the script builders send for the anti-bot gate and currencies, and the replies the
// decoders refuse: test/scripts.test.ts holds the argument counts to the Lua headers, this file
// the values in them.

const keys = eventKeys(eventId);
const proof = { challenge: "c", nonce: "n", bits: 8, expiresAtMs: 9, eventId };

describe("the gate's arguments", () => {
  // gate given, client IP, proof nonce, proof bits, proof expiry: the same five in hold and hold_batch.
  const cases: [string, Gate | undefined, unknown[]][] = [
    ["an internal caller", undefined, [0, "", "", 0, 0]],
    ["a client without a proof", { clientIp: "10.0.0.1", proof: null, proofSent: false }, [1, "10.0.0.1", "", 0, 0]],
    ["a client with a proof", { clientIp: "10.0.0.1", proof, proofSent: true }, [1, "10.0.0.1", "n", 8, 9]],
  ];

  it.each(cases)("of %s in a hold", (_who, gate, sent) => {
    expect(holdArgs(keys, 0, request(gate)).slice(-6, -1)).toEqual(sent);
  });

  it.each(cases)("of %s in a batch", (_who, gate, sent) => {
    const args = holdBatchArgs(keys, 0, [request(gate)]);
    expect(args.slice(-HOLD_BATCH_REQUEST_ARGS).slice(6, 11)).toEqual(sent);
  });
});

describe("currencies", () => {
  it("are sent in lower case, as the scripts compare them", () => {
    expect(confirmArgs(keys, 0, { bookingId: "b", paymentRef: "p", amount: 1, currency: "EUR" })).toContain("eur");
    const known = {
      paid: 0,
      maxArrivalSeq: 0,
      maxHoldSeq: 0,
      relayedUpTo: "0-0",
      paidByUser: [],
      restore: [
        {
          bookingId: "b",
          relayed: true,
          userId: "u",
          quantity: 1,
          amount: 1,
          currency: "EUR",
          paymentRef: "p",
          arrivalSeq: 1,
          holdSeq: 1,
          email: "",
          createdMs: 1,
        },
      ],
    };
    const restore = JSON.parse(String(recoverArgs(keys, 0, known).at(-1)));
    expect(restore).toEqual([["b", 1, "u", 1, 1, "eur", "p", 1, 1, "", 1]]);
  });
});

describe("the decoders", () => {
  it("turn only a two-entry refusal the script gives into an EngineError", () => {
    expect(() => decodeHold(eventId, ["SOLD_OUT", "none left"])).toThrow(EngineError);
    for (const reply of [["SOLD_OUT", "none left", "x"], ["SOLD_OUT"], ["NOT_A_CODE", ""], [7, ""]]) {
      expect(() => decodeHold(eventId, reply), JSON.stringify(reply)).toThrow(
        /^script hold answered .*: not a reply this script gives$/,
      );
    }
  });

  it("give an event that is not live one refusal per batched request, and refuse any other count", () => {
    const notLive = ["EVENT_NOT_FOUND", ""];
    expect(decodeHoldBatch([notLive], 2)).toEqual([notLive, notLive]);
    expect(decodeHoldBatch([["SOLD_OUT", ""], ["ok"]], 2)).toEqual([["SOLD_OUT", ""], ["ok"]]);
    expect(() => decodeHoldBatch([["SOLD_OUT", ""]], 2)).toThrow(
      /^script hold_batch answered .*: 1 replies for 2 holds$/,
    );
    expect(() => decodeHoldBatch([["EVENT_NOT_FOUND", "", ""]], 2)).toThrow(/1 replies for 2 holds/);
    expect(() => decodeHoldBatch([notLive, notLive, notLive], 2)).toThrow(/3 replies for 2 holds/);
    expect(() => decodeHoldBatch("EVENT_NOT_FOUND", 1)).toThrow(/^script hold_batch answered .*: not a list$/);
  });

  it("refuse a lookup of a booking that is not there", () => {
    expect(() => decodeLookup(eventId, ["BOOKING_NOT_FOUND", "gone"])).toThrow(EngineError);
    expect(() => decodeLookup(eventId, ["SOLD_OUT", ""])).toThrow(/^script lookup answered /);
  });

  it("read a sweep's counts and whether the sale is finished", () => {
    expect(decodeSweep(["ok", 1, 2, 3, 4, 5, 0])).toMatchObject({ finished: false });
    expect(decodeSweep(["ok", 1, 2, 3, 4, 5, 1])).toMatchObject({ finished: true });
    expect(() => decodeSweep(["EVENT_NOT_FOUND", "", ""])).toThrow(/^script sweep /);
    expect(() => decodeSweep(["ok", 1, 2, "3", 4, 5, 1])).toThrow(
      /^script sweep answered .*: entry 4 is not a number$/,
    );
  });

  it("read a recovery, refusing unrestored ids that are not all strings", () => {
    expect(decodeRecover(["RELAY_BEHIND", "1-0"])).toEqual({
      relayBehind: true,
      paidAdded: 0,
      countersRaised: 0,
      talliesRaised: 0,
      restored: 0,
      unrestored: [],
    });
    expect(() => decodeRecover(["ok", 1, 2, 3, 4, ["b", 5]])).toThrow(
      /^script recover answered .*: entry 6 is not a list of booking ids$/,
    );
    expect(() => decodeRecover(["ok", 1])).toThrow(/^script recover answered .*: 6 entries expected$/);
    expect(() => decodeRecover(["ok", 1, 2, "3", 4, []])).toThrow(
      /^script recover answered .*: entry 4 is not a number$/,
    );
  });
});
