# server.pyx — (being written)
