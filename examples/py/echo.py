# An echo server and clients that check its replies, all in one event loop.
import asyncio

async def handle(reader, writer):
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()

async def client(port, k):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    ok = 0
    for i in range(3):
        msg = ("hello %d from client %d" % (i, k)).encode()
        writer.write(msg)
        await writer.drain()
        reply = await reader.readexactly(len(msg))
        ok += reply == msg
    writer.close()
    await writer.wait_closed()
    return ok

async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    print("echo server listening on 127.0.0.1")
    results = await asyncio.gather(*(client(port, k) for k in range(3)))
    for k, ok in enumerate(results):
        print("client %d: %d of 3 replies match" % (k, ok))
    server.close()
    await server.wait_closed()
    print("server closed")

asyncio.run(main())
