/** A concert for a run, created through the admin API: `schedules` dates 30 days ahead of `seatCount` seats each. */
export interface CreatedConcert {
  id: string;
  schedules: { id: string }[];
}

export async function createConcert(
  base: string,
  adminToken: string,
  c: { title: string; artist: string; venue: string; schedules: number; seatCount: number; price: number },
): Promise<CreatedConcert> {
  const startsAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
  const res = await fetch(`${base}/admin/concerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({
      title: c.title,
      artist: c.artist,
      venue: c.venue,
      schedules: Array.from({ length: c.schedules }, () => ({ startsAt, seatCount: c.seatCount, price: c.price })),
    }),
  });
  if (res.status !== 201) throw new Error(`creating the concert: ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedConcert;
}
