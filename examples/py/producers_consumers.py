# Several producers and consumers on one asyncio.Queue (the optional part of
# homework 3): three producers at different paces, two consumers, a queue
# of at most 4 items; the consumers stop at one None each.
import asyncio, time

async def producer(q, name, n, delay):
    for i in range(n):
        await asyncio.sleep(delay)
        item = "%s-%d" % (name, i)
        await q.put(item)
        print("%s put %s" % (name, item))

async def consumer(q, name, delay):
    count = 0
    while True:
        item = await q.get()
        if item is None:
            q.task_done()
            break
        await asyncio.sleep(delay)
        print("%s got %s" % (name, item))
        count += 1
        q.task_done()
    print("%s ends after %d items" % (name, count))

async def main():
    q = asyncio.Queue(maxsize=4)
    t0 = time.time()
    producers = [asyncio.create_task(producer(q, "p%d" % k, 4, d))
                 for k, d in enumerate((0.11, 0.17, 0.29))]
    consumers = [asyncio.create_task(consumer(q, "c%d" % k, d))
                 for k, d in enumerate((0.05, 0.08))]
    await asyncio.gather(*producers)
    for _ in consumers:
        await q.put(None)
    await q.join()
    await asyncio.gather(*consumers)
    print("12 items in %.1f s" % (time.time() - t0))

asyncio.run(main())
