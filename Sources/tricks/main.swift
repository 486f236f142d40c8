print("tricks")
