import Communication
print("worker")
