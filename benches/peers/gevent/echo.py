"""The gevent echo server of the benchmark: `python3 echo.py ADDR`. Prints the bound address,
then answers every read with the same bytes, one greenlet per connection."""
from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from gevent.server import StreamServer  # noqa: E402


def echo(sock, _address):
    while True:
        data = sock.recv(4096)
        if not data:
            return
        sock.sendall(data)


def main():
    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0").rpartition(":")
    server = StreamServer((host, int(port)), echo, backlog=1024)
    server.init_socket()
    bound = server.socket.getsockname()
    print(f"{bound[0]}:{bound[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
