Bwj
locationw.binj
offset16j
length32p