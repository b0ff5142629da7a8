import { beforeAll, describe, expect, it } from "vitest";
import { type Dataset, type Example, classCounts, normaliseSpace, splitNames, splitOf } from "../../src/data/dataset.ts";
import { loadDataset } from "../../src/data/registry.ts";
import { emailToText, htmlToText } from "../../src/data/spam.ts";

let data: Dataset;
let all: Example[];
beforeAll(() => {
  data = loadDataset("spam");
  all = splitNames.flatMap((s) => data.splits[s]);
});

describe("emailToText", () => {
  it("keeps the subject and the body, not the other headers", () => {
    const raw = "From: a@b.c\nSubject: Hello\n  there\nReceived: from x\n\nBody  line one\n\nline   two\n";
    expect(emailToText(raw)).toBe("Subject: Hello there\nBody line one line two");
  });

  it("decodes quoted-printable, base64 and encoded subjects", () => {
    const qp = "Subject: =?iso-8859-1?Q?Caf=E9_ouvert?=\nContent-Type: text/plain; charset=iso-8859-1\n" +
      "Content-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak =3D caf=E9\n";
    expect(emailToText(qp)).toBe("Subject: Café ouvert\nsoftbreak = café");
    const b64 = `Subject: =?utf-8?B?${Buffer.from("naïve").toString("base64")}?=\nContent-Transfer-Encoding: base64\n\n` +
      `${Buffer.from("hello there").toString("base64")}\n`;
    expect(emailToText(b64)).toBe("Subject: naïve\nhello there");
  });

  it("reads windows-1252 quotes whatever the Node version", () => {
    const raw = "Subject: q\nContent-Type: text/plain; charset=iso-8859-1\n\nit\x92s \x93quoted\x94";
    expect(emailToText(raw)).toBe("Subject: q\nit\u2019s \u201cquoted\u201d");
  });

  it("takes the plain part of multipart/alternative and the text parts of multipart/mixed", () => {
    const raw = [
      'Subject: parts', 'Content-Type: multipart/mixed; boundary="OUT"', "", "preamble",
      "--OUT", 'Content-Type: multipart/alternative; boundary="IN"', "",
      "--IN", "Content-Type: text/plain", "", "plain words",
      "--IN", "Content-Type: text/html", "", "<p>html words</p>", "--IN--",
      "--OUT", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64", "", "AAAA",
      "--OUT", "Content-Type: text/html", "", "<b>bold</b>&nbsp;&amp;&#8217;", "--OUT--", "epilogue",
    ].join("\n");
    expect(emailToText(raw)).toBe("Subject: parts\nplain words bold &\u2019");
  });

  it("strips HTML tags, comments, scripts and styles", () => {
    const html = "<html><head><title>t</title><style>p{}</style></head><body><!-- c --><p>Buy<br>now</p>" +
      "<script>x()</script>&lt;ok&gt; AT&T</body></html>";
    expect(normaliseSpace(htmlToText(html))).toBe("Buy now <ok> AT&T");
  });
});

describe("SpamAssassin", () => {
  it("has ham and spam in the numbers FINDINGS expects (4110 / 1801)", () => {
    expect(data.labels).toEqual(["ham", "spam"]);
    const [ham, spam] = classCounts(all, 2);
    expect(Math.abs(ham - 4110)).toBeLessThan(50);
    expect(Math.abs(spam - 1801)).toBeLessThan(50);
    expect(data.stats.raw).toBe(6046);
  });

  it("has no repeated text and every text starts with its subject line", () => {
    expect(new Set(all.map((ex) => normaliseSpace(ex.text))).size).toBe(all.length);
    expect(all.filter((ex) => !ex.text.startsWith("Subject: "))).toEqual([]);
  });

  it("keeps headers other than Subject out of the text", () => {
    // A handful of emails quote other emails' headers in their body; those stay, as text.
    const withReceived = all.filter((ex) => /Received: from/.test(ex.text));
    expect(withReceived.length).toBeLessThan(all.length / 100);
  });

  it("splits about 80/10/10 by a hash of the message id", () => {
    expect(data.splits.train.length / all.length).toBeCloseTo(0.8, 1);
    for (const split of splitNames) {
      expect(data.splits[split].filter((ex) => splitOf(ex.id) !== split)).toEqual([]);
    }
    expect(all.find((ex) => ex.id === "spam-1/00001.7848dde101aa985090474a91ec93fcf0")?.text).toMatch(
      /^Subject: Life Insurance - Why Pay More\?\nSave up to 70% on Life Insurance\./,
    );
  });
});
